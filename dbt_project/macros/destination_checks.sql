{#
    The checks of a custom job's output before it is merged into its object (the tests that
    goalsync writes into tests/destinations/ call these). A row check returns the offending
    rows; a column problem stops the check with one line saying what to fix, the same line
    whichever check runs first.
#}

{% macro destination_null_keys(job_model, key) -%}
    {%- do check_destination_output(job_model, key) -%}
    select * from {{ job_model }}
    where {% for column in key -%}
        {{ adapter.quote(column) }} is null{% if not loop.last %} or {% endif %}
    {%- endfor %}
{%- endmacro %}


{% macro destination_repeated_keys(job_model, key) -%}
    {%- do check_destination_output(job_model, key) -%}
    select {% for column in key %}{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ job_model }}
    group by {% for column in key %}{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor %}
    having count(*) > 1
{%- endmacro %}


{#
    `companies` is the company relation's name, not a ref: a test that refs the seed too would
    be selected with the seed, by every build of CS Goal Sync (`--select +tag:cs_goal_sync`).
#}
{% macro destination_unknown_companies(job_model, company_key, companies) -%}
    {%- do check_destination_output(job_model, [company_key]) -%}
    select output.* from {{ job_model }} as output
    where not exists (
        select 1 from {{ companies }} as company
        where company.gsid = output.{{ adapter.quote(company_key) }}
    )
{%- endmacro %}


{#
    An errors model lists the records a job rejects: record_key, reason, record. No rows
    when it does; stops with one line when it does not.
#}
{% macro destination_errors_model(errors_model) -%}
    {%- if execute -%}
        {%- set required = ['record_key', 'reason', 'record'] -%}
        {%- set columns = destination_columns(errors_model) -%}
        {%- set missing = required | reject('in', columns) | list -%}
        {%- if not columns or missing or errors_model.schema != 'custom_staging' -%}
            {{ exceptions.raise_compiler_error(
                "errors model '" ~ errors_model.identifier ~ "' must be built in schema "
                ~ "custom_staging with columns " ~ required | join(', ')
                ~ ((" (missing: " ~ missing | join(', ') ~ ")") if columns else "")
            ) }}
        {%- endif -%}
    {%- endif -%}
    select 1 as found where false
{%- endmacro %}


{# Column names and types of the job's output: the key is there, gsid columns are text. #}
{% macro check_destination_output(job_model, key) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(job_model) -%}
    {%- set names = columns | map(attribute='name') | list -%}
    {%- if not columns or job_model.schema != 'custom_staging' -%}
        {{ exceptions.raise_compiler_error(
            "model '" ~ job_model.identifier ~ "' was not built in schema custom_staging: a "
            ~ "custom job's models need `config: {schema: custom_staging}` in their .yml"
        ) }}
    {%- endif -%}
    {%- for column in key if column not in names -%}
        {{ exceptions.raise_compiler_error(
            "key column '" ~ column ~ "' (jobs.yml) is not a column of model '"
            ~ job_model.identifier ~ "' (its columns: " ~ names | join(', ') ~ ")"
        ) }}
    {%- endfor -%}
    {%- if 'gsid' in names -%}
        {{ exceptions.raise_compiler_error(
            "model '" ~ job_model.identifier ~ "' has a column 'gsid': the destination's gsid "
            ~ "is derived from the key, so rename that column"
        ) }}
    {%- endif -%}
    {%- for column in columns if column.name.endswith('_gsid') and not column.is_string() -%}
        {{ exceptions.raise_compiler_error(
            "column '" ~ column.name ~ "' of model '" ~ job_model.identifier ~ "' is "
            ~ column.dtype ~ ": a GSID column (named *_gsid) must be declared data_type: varchar"
        ) }}
    {%- endfor -%}
{%- endmacro %}


{% macro destination_columns(relation) -%}
    {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | list) }}
{%- endmacro %}
