{{ config(materialized='table') }}

with

live_kpis as (

    select * from {{ ref('int_kpis__live') }}

),

-- The linter's duckdb dialect cannot parse the macro's `lambda x: ...` (DuckDB 1.3+ syntax).
-- noqa: disable=PRS
latest_actuals as (

    -- Actuals arrive unsorted: latest instant first; on a tie the entry that comes last
    -- in the array wins (the later-recorded correction). Undated entries cannot be latest.
    {{ latest_dated_entries(
        'live_kpis', 'kpi_id', 'actuals',
        carried_columns=['value_driver_id', 'kpi_name', 'kpi_baseline', 'kpi_target'],
    ) }}

),
-- noqa: enable=PRS

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
