{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ start_incremental_rebuild('value_driver_id', 'affected_goal_value_drivers') }}",
    post_hook="{{ finish_incremental_rebuild() }}",
) }}
-- depends_on: {{ ref('stg_ecosystems__record_loads') }}

with

goals as {{ incremental_rebuild_cte() }} (

    select * from {{ ref('int_goals__joined') }}
    where {{ incremental_rebuild_filter('value_driver_id') }}

),

companies as (

    select * from {{ ref('stg_gainsight__companies') }}

),

users as (

    select * from {{ ref('stg_gainsight__users') }}

),

with_company as (

    {{ derived_lookup(
        source_relation='goals',
        target_relation='companies',
        match_on=[{'source': 'crm_account_id', 'target': 'sfdc_account_id'}],
        output_column='company_gsid',
        on_no_match='error',
        on_multiple='error',
    ) }}

),

with_created_by as (

    {{ derived_lookup(
        source_relation='with_company',
        target_relation='users',
        match_on=[{'source': 'created_by_email', 'target': 'email', 'case_insensitive': true}],
        output_column='created_by_gsid',
        on_no_match='null',
        on_multiple='lowest',
    ) }}

),

with_last_updated_by as (

    {{ derived_lookup(
        source_relation='with_created_by',
        target_relation='users',
        match_on=[{'source': 'last_updated_by_email', 'target': 'email', 'case_insensitive': true}],
        output_column='last_updated_by_gsid',
        on_no_match='null',
        on_multiple='lowest',
    ) }}

),

final as (

    select
        *,
        case
            when not company_gsid__lookup_rejected then null
            when company_gsid__lookup_status = 'no_match' then 'company_not_found'
            else 'company_ambiguous'
        end as rejection_reason

    from with_last_updated_by

)

select * from final
