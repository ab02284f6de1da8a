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

actuals as (

    -- One parse of the JSON array per KPI into typed entries, kept as a list (no unnest,
    -- no window): at a million KPIs this is the costliest step of the job.
    select
        kpis.kpi_id,
        list_filter(
            list_transform(
                from_json(kpis.actuals, '[{"measured_on": "VARCHAR", "value": "VARCHAR"}]'),
                lambda actual, actual_position: {
                    'measured_on': {{ try_cast('actual.measured_on', 'timestamp with time zone') }},
                    'actual_position': actual_position,
                    'measured_on_text': actual.measured_on,
                    'value_text': actual.value
                }
            ),
            lambda actual: actual.measured_on is not null
        ) as dated_actuals

    from kpis

),

latest_actuals as (

    -- Actuals arrive unsorted: latest instant first; on a tie the entry that comes last
    -- in the array wins (the later-recorded correction). Undated entries cannot be latest.
    -- The largest (measured_on, actual_position) pair is exactly that entry.
    select
        kpi_id,
        list_max(dated_actuals) as latest_actual

    from actuals

),

final as (

    select
        kpi_id,
        latest_actual.measured_on_text as latest_measured_on,
        {{ try_cast('latest_actual.value_text', 'double precision') }} as latest_actual_value

    from latest_actuals

)

select * from final
