with

mapped_documents as (

    select * from {{ ref('company_value_summary__documents') }}

),

live_value_drivers as (

    select * from {{ ref('int_value_drivers__live') }}

),

goals as (

    select * from {{ ref('int_goals__joined') }}

),

live_kpis as (

    select * from {{ ref('int_kpis__live') }}

),

latest_actuals as (

    select * from {{ ref('int_kpis__latest_actual') }}

),

company_documents as (

    -- Documents whose company lookup failed are error records, not part of any summary.
    select
        document_id,
        company_gsid
    from mapped_documents
    where rejection_reason is null

),

documents_per_company as (

    select
        company_gsid,
        count(*) as live_documents

    from company_documents

    group by company_gsid

),

value_drivers_per_company as (

    select
        company_documents.company_gsid,
        count(*) as live_value_drivers,
        coalesce(sum(live_value_drivers.total_benefit), 0) as total_benefit

    from live_value_drivers

    inner join company_documents
        on company_documents.document_id = live_value_drivers.document_id

    group by company_documents.company_gsid

),

goals_per_company as (

    select
        company_documents.company_gsid,
        count(*) as goals

    from goals

    inner join company_documents
        on company_documents.document_id = goals.document_id

    group by company_documents.company_gsid

),

kpi_progress as (

    -- On track: the latest actual has reached the target in the KPI's direction. Null
    -- (not measured) when the actual, the target or the direction is missing.
    select
        company_documents.company_gsid,
        live_kpis.kpi_id,
        case
            when live_kpis.kpi_direction = 'increase'
                then latest_actuals.latest_actual_value >= live_kpis.kpi_target
            when live_kpis.kpi_direction = 'decrease'
                then latest_actuals.latest_actual_value <= live_kpis.kpi_target
        end as is_on_track

    from live_kpis

    inner join live_value_drivers
        on live_value_drivers.value_driver_id = live_kpis.value_driver_id

    inner join company_documents
        on company_documents.document_id = live_value_drivers.document_id

    left join latest_actuals
        on latest_actuals.kpi_id = live_kpis.kpi_id

),

kpis_per_company as (

    select
        company_gsid,
        count(*) as live_kpis,
        count(is_on_track) as kpis_measured,
        count(case when is_on_track then 1 end) as kpis_on_track

    from kpi_progress

    group by company_gsid

),

final as (

    select
        documents_per_company.company_gsid,
        documents_per_company.live_documents,
        coalesce(value_drivers_per_company.live_value_drivers, 0) as live_value_drivers,
        coalesce(value_drivers_per_company.total_benefit, 0) as total_benefit,
        coalesce(goals_per_company.goals, 0) as goals,
        coalesce(kpis_per_company.live_kpis, 0) as live_kpis,
        coalesce(kpis_per_company.kpis_measured, 0) as kpis_measured,
        coalesce(kpis_per_company.kpis_on_track, 0) as kpis_on_track,
        cast(kpis_per_company.kpis_on_track as double precision)
        / nullif(kpis_per_company.kpis_measured, 0) as kpis_on_track_share

    from documents_per_company

    left join value_drivers_per_company
        on value_drivers_per_company.company_gsid = documents_per_company.company_gsid

    left join goals_per_company
        on goals_per_company.company_gsid = documents_per_company.company_gsid

    left join kpis_per_company
        on kpis_per_company.company_gsid = documents_per_company.company_gsid

)

select * from final
