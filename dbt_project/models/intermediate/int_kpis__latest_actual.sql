{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ start_incremental_rebuild('kpi_id', 'affected_kpis') }}",
    post_hook="{{ finish_incremental_rebuild() }}",
) }}
-- depends_on: {{ ref('stg_ecosystems__record_loads') }}

with

kpis as (

    select * from {{ ref('int_kpis__live') }}
    where {{ incremental_rebuild_filter('kpi_id') }}

),

latest_actuals as (

    -- Actuals arrive unsorted: latest instant first; on a tie the entry that comes last
    -- in the array wins (the later-recorded correction). Undated entries cannot be latest.
    {{ latest_dated_entries('kpis', 'kpi_id', 'actuals') }}

),

final as (

    select
        kpi_id,
        latest_measured_on,
        {{ try_cast('latest_value_text', 'double precision') }} as latest_actual_value

    from latest_actuals

)

select * from final
