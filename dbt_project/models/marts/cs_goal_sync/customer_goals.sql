with

mapped_goals as (

    select * from {{ ref('int_goals__mapped') }}

),

loaded_goals as (

    -- Goals the company lookup rejected go to customer_goals_errors instead.
    select * from mapped_goals
    where rejection_reason is null

),

final as (

    select
        {{ stable_gsid('goal_key', 'customer_goals') }} as gsid,
        goal_key,
        account_name,
        created_at,
        created_by_name,
        crm_opportunity_name,
        document_id,
        document_name,
        kpi_actuals,
        kpi_name,
        kpi_baseline,
        kpi_target,
        kpi_id,
        last_updated_by_name as last_update_by_name,
        total_benefit,
        value_driver_id,
        value_driver_name,
        value_driver_solution,
        value_driver_category,
        realization_calendar as value_realization_calendar,
        company_gsid,
        created_by_gsid,
        last_updated_by_gsid

    from loaded_goals

)

select * from final
