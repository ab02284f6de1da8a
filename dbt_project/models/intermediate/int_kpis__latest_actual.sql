with

kpis as (

    select * from {{ ref('int_kpis__live') }}

),

actuals as (

    select
        kpis.kpi_id,
        actual.position as actual_position,
        {{ json_extract_text('actual.element', 'measured_on') }} as measured_on_text,
        {{ try_cast(json_extract_text('actual.element', 'measured_on'), 'timestamp with time zone') }}
            as measured_on,
        {{ try_cast(json_extract_text('actual.element', 'value'), 'double precision') }}
            as actual_value

    from kpis

    {{ unnest_json_array('kpis.actuals', 'actual') }}

),

ranked_actuals as (

    -- Actuals arrive unsorted: latest instant first; on a tie the entry that comes last
    -- in the array wins (the later-recorded correction). Undated entries cannot be latest.
    select
        *,
        row_number() over (
            partition by kpi_id
            order by measured_on desc, actual_position desc
        ) as recency_rank

    from actuals

    where measured_on is not null

),

latest_actuals as (

    select * from ranked_actuals where recency_rank = 1

),

final as (

    select
        kpis.kpi_id,
        latest_actuals.measured_on_text as latest_measured_on,
        latest_actuals.actual_value as latest_actual_value

    from kpis

    left join latest_actuals
        on latest_actuals.kpi_id = kpis.kpi_id

)

select * from final
