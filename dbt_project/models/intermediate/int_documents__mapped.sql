{{ config(materialized='table') }}

with

live_documents as (

    select * from {{ ref('int_documents__live') }}

),

companies as (

    select * from {{ ref('stg_gainsight__companies') }}

),

users as (

    select * from {{ ref('stg_gainsight__users') }}

),

with_company as (

    {{ derived_lookup(
        source_relation='live_documents',
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
        {{ derived_lookup_rejection_reason(['company_gsid']) }} as rejection_reason

    from with_last_updated_by

)

select * from final
