{#
    derived_lookup_rejection_reason: why a row's derived lookups reject it, or null.

    Takes the output columns of the lookups whose policy can reject (on_no_match or
    on_multiple 'error'), in the order they should be reported. The reason is
    `<name>_not_found` (no match) or `<name>_ambiguous` (several matches), <name> being the
    output column without its `_gsid` suffix: company_gsid → company_not_found, the
    reasons CS Goal Sync reports too.

    Example
      select *, {{ derived_lookup_rejection_reason(['company_gsid']) }} as rejection_reason
      from with_company
#}
{% macro derived_lookup_rejection_reason(output_columns) -%}
    {%- if output_columns is string -%}
        {%- set output_columns = [output_columns] -%}
    {%- endif -%}
    case
    {%- for column in output_columns %}
        {%- set name = column[:-5] if column.endswith('_gsid') else column %}
        when {{ column }}__lookup_rejected and {{ column }}__lookup_status = 'no_match'
            then '{{ name }}_not_found'
        when {{ column }}__lookup_rejected
            then '{{ name }}_ambiguous'
    {%- endfor %}
    end
{%- endmacro %}
