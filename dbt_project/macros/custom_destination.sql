{#
    The Gainsight-side object of custom and company jobs, `gainsight.<object_name>`, as an
    incremental model that merges the job's output rows into it by the job's key. goalsync
    writes one call per object into models/destinations/ from jobs.yml (goalsync/destinations.py);
    several jobs may write one object, and the one running (env GOALSYNC_JOB; the first
    otherwise, as in a plain `dbt build`) gives the key and the operation:
      insert   adds rows whose key is new
      update   changes rows whose key exists and whose content differs
      upsert   both
      replace  both, and deletes the rows whose key left the output
    Rows of the object that are not in the output are left alone (but by replace). The gsid is
    `stable_gsid` of the key and is never updated; columns new in the output are appended.
    Each job's checks (tests/destinations/) run before the merge and stop it when they fail.
#}
{% macro custom_destination(object_name, jobs) -%}
    {%- set job = destination_job(jobs) -%}
    {{ config(
        materialized='incremental',
        unique_key=job.key,
        on_schema_change='append_new_columns',
        full_refresh=false,
        schema='gainsight',
        alias=object_name,
        **destination_merge_config(job.operation, job.key)
    ) }}
    {%- if execute -%}
        {%- do check_destination_output(job.model, job.key) -%}
    {%- endif -%}
    {%- set gsid = stable_gsid(stable_key_text('output', job.key), object_name) %}

with

output as (

    select * from {{ job.model }}

),

final as (

    select
        {% if is_incremental() -%}
        -- null marks a row whose content is unchanged: the merge does not update it (the
        -- compared columns are known only now, the merge's options when the project is parsed)
        case when {{ unchanged_destination_row('output', job) }} then null else {{ gsid }} end
        {%- else -%}
        {{ gsid }}
        {%- endif %} as gsid,
        output.*

    from output
    {% if not is_incremental() and job.operation == 'update' -%}
    -- an update finds nothing on the first run: the object starts empty
    where false
    {%- endif %}

)

select * from final
{%- endmacro %}


{# The running job's entry among the object's jobs. #}
{% macro destination_job(jobs) -%}
    {%- set running = env_var('GOALSYNC_JOB', '') -%}
    {%- for job in jobs if job.job == running -%}
        {{ return(job) }}
    {%- endfor -%}
    {{ return(jobs[0]) }}
{%- endmacro %}


{#
    Whether the output row `alias` equals the object's row of the same key on every compared
    column (all but the key and compare_exclude); a column the object lacks yet compares as null.
#}
{% macro unchanged_destination_row(alias, job) -%}
    {%- set existing_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set compared = [] -%}
    {%- for column in adapter.get_columns_in_relation(job.model) -%}
        {%- if column.name not in job.key and column.name not in job.compare_exclude -%}
            {%- do compared.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    exists (
            select 1 from {{ this }} as existing
            where {% for column in job.key -%}
                existing.{{ adapter.quote(column) }} = {{ alias }}.{{ adapter.quote(column) }}
                {%- if not loop.last %} and {% endif -%}
            {%- endfor %}
            {%- for column in compared %}
                and {% if column in existing_columns -%}
                    existing.{{ adapter.quote(column) }} is not distinct from {{ alias }}.{{ adapter.quote(column) }}
                {%- else -%}
                    {{ alias }}.{{ adapter.quote(column) }} is null
                {%- endif -%}
            {%- endfor %}
        )
{%- endmacro %}


{# The key as one text value, the input of stable_gsid (one column: itself). #}
{% macro stable_key_text(alias, key) -%}
    {{ return(adapter.dispatch('stable_key_text', 'goalsync')(alias, key)) }}
{%- endmacro %}

{% macro default__stable_key_text(alias, key) -%}
    {%- if key | length == 1 -%}
        cast({{ alias }}.{{ adapter.quote(key[0]) }} as varchar)
    {%- else -%}
        concat_ws(chr(31), {% for column in key -%}
            cast({{ alias }}.{{ adapter.quote(column) }} as varchar){% if not loop.last %}, {% endif %}
        {%- endfor %})
    {%- endif -%}
{%- endmacro %}


{#
    The incremental strategy and its options for an operation. dbt-duckdb's merge: an update
    only where the source's gsid is set (a changed row), never of the gsid or the key.
#}
{% macro destination_merge_config(operation, key) -%}
    {{ return(adapter.dispatch('destination_merge_config', 'goalsync')(operation, key)) }}
{%- endmacro %}

{% macro duckdb__destination_merge_config(operation, key) -%}
    {%- set update = {
        'action': 'update',
        'mode': 'explicit',
        'condition': 'DBT_INTERNAL_SOURCE.gsid is not null',
        'update': {'exclude': ['gsid'] + key},
    } -%}
    {%- set insert = {'action': 'insert', 'mode': 'by_name'} -%}
    {%- set nothing = {'action': 'do_nothing'} -%}
    {%- set clauses = {
        'insert': {'when_matched': [nothing], 'when_not_matched': [insert]},
        'update': {'when_matched': [update], 'when_not_matched': [nothing]},
        'upsert': {'when_matched': [update], 'when_not_matched': [insert]},
        'replace': {
            'when_matched': [update],
            'when_not_matched': [insert, {'by': 'source', 'action': 'delete'}],
        },
    } -%}
    {{ return({'incremental_strategy': 'merge', 'merge_clauses': clauses[operation]}) }}
{%- endmacro %}
