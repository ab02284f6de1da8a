{#
    GSID columns. A column holds a Gainsight GSID when it is named `gsid` or `*_gsid` and is
    declared `varchar` (or an alias of it: text, string, character varying). A derived
    lookup that returns a GSID must write it into such a column, so a Gainsight-side field
    of type GSID never receives a name, a number or a cast value.
#}
{% macro is_gsid_column_name(column_name) -%}
    {{ return(column_name == 'gsid' or column_name.endswith('_gsid')) }}
{%- endmacro %}


{% macro is_gsid_data_type(data_type) -%}
    {%- set declared = (data_type or '') | lower | trim -%}
    {{ return(
        declared in ('varchar', 'text', 'string', 'character varying')
        or declared.startswith('varchar(')
        or declared.startswith('character varying(')
    ) }}
{%- endmacro %}


{#
    Raises a compile error when a derived lookup returning a GSID (target_column `gsid` or
    `*_gsid`) writes into a column that is not a GSID column: the output column's name must
    end in `_gsid`, and when the model's .yml declares that column, its data_type must be
    varchar.
#}
{% macro check_gsid_output_column(output_column, target_column) -%}
    {%- if execute and is_gsid_column_name(target_column) -%}
        {%- if not is_gsid_column_name(output_column) -%}
            {{ exceptions.raise_compiler_error(
                "derived_lookup returns a GSID (target_column '" ~ target_column ~ "') into '"
                ~ output_column ~ "', which is not a GSID column: name it '" ~ output_column
                ~ "_gsid' (a GSID column is named *_gsid and declared data_type: varchar)."
            ) }}
        {%- endif -%}
        {%- set declared = model.columns.get(output_column) if model is defined and model.columns is defined else none -%}
        {%- if declared and declared.data_type and not is_gsid_data_type(declared.data_type) -%}
            {{ exceptions.raise_compiler_error(
                "derived_lookup writes a GSID into '" ~ output_column ~ "', declared as '"
                ~ declared.data_type ~ "' in " ~ model.name ~ "'s .yml: a GSID column is declared "
                ~ "data_type: varchar."
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
