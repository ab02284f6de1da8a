with

kpi_goals as (

    select
        goal_key,
        kpi_id
    from {{ ref('customer_goals') }}
    where kpi_id is not null

),

latest_actuals as (

    select
        kpi_id,
        latest_actual_position
    from {{ ref('int_kpis__latest_actual') }}

),

live_kpis as (

    select
        kpi_id,
        actuals
    from {{ ref('int_kpis__live') }}

),

goal_kpis as (

    select
        kpi_goals.goal_key,
        kpi_goals.kpi_id,
        live_kpis.actuals,
        latest_actuals.latest_actual_position

    from kpi_goals

    inner join live_kpis
        on live_kpis.kpi_id = kpi_goals.kpi_id

    inner join latest_actuals
        on latest_actuals.kpi_id = kpi_goals.kpi_id

),

-- The linter's duckdb dialect cannot parse the macro's `lambda x: ...` (DuckDB 1.3+ syntax).
-- noqa: disable=PRS
actual_entries as (

    -- the same parse latest_dated_entries compares, so is_latest and kpi_actuals agree
    {{ dated_entry_rows(
        'goal_kpis', 'kpi_id', 'actuals',
        carried_columns=['goal_key', 'latest_actual_position'],
    ) }}

),
-- noqa: enable=PRS

final as (

    select
        goal_key,
        kpi_id,
        cast(entry_position as integer) as actual_position,
        measured_on_text as measured_on,
        measured_on as measured_at,
        {{ try_cast('value_text', 'double precision') }} as value,  -- noqa: RF04
        coalesce(entry_position = latest_actual_position, false) as is_latest

    from actual_entries

)

select * from final
