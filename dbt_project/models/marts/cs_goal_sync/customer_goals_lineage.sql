with

goals as (

    select
        goal_key,
        document_id,
        value_driver_id,
        kpi_id
    from {{ ref('customer_goals') }}

),

current_versions as (

    select
        goal_key,
        goalsync_run_id,
        dbt_valid_from
    from {{ ref('customer_goals_history') }}
    where dbt_valid_to is null

),

-- A goal's records are live, so the latest version of each (what staging keeps) is the
-- version the goal was built from; staging is read once per object, not once per live view.
documents as (

    select
        document_id,
        _dlt_load_id
    from {{ ref('stg_ecosystems__documents') }}
    where document_id in (select goals.document_id from goals)

),

value_drivers as (

    select
        value_driver_id,
        _dlt_load_id
    from {{ ref('stg_ecosystems__value_drivers') }}
    where value_driver_id in (select goals.value_driver_id from goals)

),

kpis as (

    select
        kpi_id,
        _dlt_load_id
    from {{ ref('stg_ecosystems__kpis') }}
    where kpi_id in (select goals.kpi_id from goals)

),

final as (

    select
        goals.goal_key,
        goals.document_id,
        documents._dlt_load_id as document_load_id,
        goals.value_driver_id,
        value_drivers._dlt_load_id as value_driver_load_id,
        goals.kpi_id,
        kpis._dlt_load_id as kpi_load_id,
        current_versions.goalsync_run_id as run_id,
        current_versions.dbt_valid_from as written_at

    from goals

    left join documents
        on documents.document_id = goals.document_id

    left join value_drivers
        on value_drivers.value_driver_id = goals.value_driver_id

    left join kpis
        on kpis.kpi_id = goals.kpi_id

    left join current_versions
        on current_versions.goal_key = goals.goal_key

)

select * from final
