{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook="{{ start_incremental_rebuild('kpi_id', 'affected_kpis') }}",
    post_hook="{{ finish_incremental_rebuild() }}",
) }}
-- depends_on: {{ ref('stg_ecosystems__record_loads') }}

with

live_kpis as (

    select * from {{ ref('int_kpis__live') }}
    where {{ incremental_rebuild_filter('kpi_id') }}

),

latest_actuals as (

    -- Actuals arrive unsorted: latest instant first; on a tie the entry that comes last
    -- in the array wins (the later-recorded correction). Undated entries cannot be latest.
    {{ latest_dated_entries(
        'live_kpis', 'kpi_id', 'actuals',
        carried_columns=['value_driver_id', 'kpi_name', 'kpi_baseline', 'kpi_target'],
    ) }}

),

final as (

    select
        kpi_id,
        value_driver_id,
        kpi_name,
        kpi_baseline,
        kpi_target,
        latest_measured_on,
        {{ try_cast('latest_value_text', 'double precision') }} as latest_actual_value,
        latest_entry_position as latest_actual_position

    from latest_actuals

)

select * from final
