{#
    The orchestrator's run id as a BIGINT literal: var `goalsync_run_id`, which the
    orchestrator passes in environment variable GOALSYNC_RUN_ID (a changed --vars value makes
    dbt parse the whole project again, about 2 s a run; a changed env var re-parses only the
    files that read it). Null for a plain `dbt build`.
#}
{% macro goalsync_run_id() -%}
    {%- set run_id = var('goalsync_run_id', env_var('GOALSYNC_RUN_ID', '')) -%}
    {%- if run_id is none or run_id | string | trim == '' -%}
        cast(null as bigint)
    {%- else -%}
        cast({{ run_id | int }} as bigint)
    {%- endif -%}
{%- endmacro %}
