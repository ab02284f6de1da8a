with

live_documents as (

    select * from {{ ref('int_documents__live') }}

),

live_value_drivers as (

    select * from {{ ref('int_value_drivers__live') }}

),

live_kpis as (

    -- Live KPIs with their latest actual, persisted: reading int_kpis__live here would
    -- pick the latest version of every raw KPI again on each read of this view.
    select * from {{ ref('int_kpis__latest_actual') }}

),

joined as (

    -- The left join gives one row per live KPI, and one KPI-less row for a value driver
    -- without any live KPI.
    select
        coalesce(live_kpis.kpi_id, live_value_drivers.value_driver_id) as goal_key,

        live_documents.document_id,
        live_documents.document_name,
        live_documents.account_name,
        live_documents.crm_account_id,
        live_documents.crm_opportunity_name,
        live_documents.created_at,
        live_documents.created_by_name,
        live_documents.created_by_email,
        live_documents.last_updated_by_name,
        live_documents.last_updated_by_email,

        live_value_drivers.value_driver_id,
        live_value_drivers.value_driver_name,
        live_value_drivers.value_driver_solution,
        live_value_drivers.value_driver_category,
        live_value_drivers.total_benefit,
        live_value_drivers.realization_calendar,

        live_kpis.kpi_id,
        live_kpis.kpi_name,
        live_kpis.kpi_baseline,
        live_kpis.kpi_target,
        live_kpis.latest_actual_value as kpi_actuals

    from live_value_drivers

    inner join live_documents
        on live_documents.document_id = live_value_drivers.document_id

    left join live_kpis
        on live_kpis.value_driver_id = live_value_drivers.value_driver_id

),

final as (

    select * from joined

)

select * from final
