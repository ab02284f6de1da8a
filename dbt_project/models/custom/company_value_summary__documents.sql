with

live_documents as (

    select * from {{ ref('int_documents__live') }}

),

companies as (

    select * from {{ ref('stg_gainsight__companies') }}

),

with_company as (

    -- Derived mapping on two columns: the Gainsight company whose name equals the
    -- document's account name in any case AND whose sfdc_account_id equals the CRM
    -- account id exactly. No company, or several, rejects the document.
    {{ derived_lookup(
        source_relation='live_documents',
        target_relation='companies',
        match_on=[
            {'source': 'account_name', 'target': 'name', 'case_insensitive': true},
            {'source': 'crm_account_id', 'target': 'sfdc_account_id'},
        ],
        output_column='company_gsid',
        on_no_match='error',
        on_multiple='error',
    ) }}

),

final as (

    select
        *,
        {{ derived_lookup_rejection_reason(['company_gsid']) }} as rejection_reason

    from with_company

)

select * from final
