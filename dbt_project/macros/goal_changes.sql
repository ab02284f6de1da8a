{#
    Which rows of the goal models the raw records loaded after `watermark` can change
    (queries for `start_incremental_rebuild`). A KPI's latest actual follows from the KPI,
    its liveness from its value driver and document; a goal row from its KPI, value driver
    and document, so goals are rebuilt per value driver (every goal has one). Tombstones
    carry no parent id, so a changed KPI's previous value driver comes from the model's
    own rows.
#}

{% macro changed_records(watermark) -%}
    select object_name, record_id, parent_id
    from {{ ref('int_records__loads') }}
    where load_id > '{{ watermark }}'
{%- endmacro %}


{% macro changed_value_drivers(watermark) -%}
    {#- Value drivers loaded since, and those of the documents loaded since. -#}
    select record_id as value_driver_id
    from ({{ changed_records(watermark) }})
    where object_name = 'value_drivers'

    union

    select record_loads.record_id
    from {{ ref('int_records__loads') }} as record_loads
    where record_loads.object_name = 'value_drivers'
        and record_loads.parent_id in (
            select record_id from ({{ changed_records(watermark) }}) where object_name = 'documents'
        )
{%- endmacro %}


{% macro affected_kpis(watermark) -%}
    select record_id as kpi_id
    from ({{ changed_records(watermark) }})
    where object_name = 'kpis'

    union

    select record_loads.record_id
    from {{ ref('int_records__loads') }} as record_loads
    where record_loads.object_name = 'kpis'
        and record_loads.parent_id in (select value_driver_id from ({{ changed_value_drivers(watermark) }}))
{%- endmacro %}


{% macro affected_goal_value_drivers(watermark) -%}
    with changed as (

        {{ changed_records(watermark) }}

    )

    select value_driver_id from ({{ changed_value_drivers(watermark) }})

    union

    -- the value driver a changed KPI has now
    select parent_id from changed where object_name = 'kpis' and parent_id is not null

    union

    -- the value driver a changed KPI had, and those a changed document had
    select value_driver_id
    from {{ this }}
    where kpi_id in (select record_id from changed where object_name = 'kpis')
        or document_id in (select record_id from changed where object_name = 'documents')
{%- endmacro %}
