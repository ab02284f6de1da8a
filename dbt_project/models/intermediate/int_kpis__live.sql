with

kpis as (

    select * from {{ ref('stg_ecosystems__kpis') }}

),

live_value_drivers as (

    select * from {{ ref('int_value_drivers__live') }}

),

live_kpis as (

    -- A KPI of a deleted or never-arrived value driver (or document) is gone with it.
    select kpis.*

    from kpis

    inner join live_value_drivers
        on live_value_drivers.value_driver_id = kpis.value_driver_id

    where not kpis.is_deleted

),

final as (

    select * from live_kpis

)

select * from final
