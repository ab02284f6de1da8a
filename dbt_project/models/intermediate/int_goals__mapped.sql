with

goals as (

    select * from {{ ref('int_goals__joined') }}

),

mapped_documents as (

    select * from {{ ref('int_documents__mapped') }}

),

mapped as (

    -- Every derived lookup reads document fields only, so a goal takes its document's.
    select
        goals.*,
        mapped_documents.company_gsid,
        mapped_documents.company_gsid__lookup_status,
        mapped_documents.company_gsid__lookup_rejected,
        mapped_documents.created_by_gsid,
        mapped_documents.created_by_gsid__lookup_status,
        mapped_documents.created_by_gsid__lookup_rejected,
        mapped_documents.last_updated_by_gsid,
        mapped_documents.last_updated_by_gsid__lookup_status,
        mapped_documents.last_updated_by_gsid__lookup_rejected,
        mapped_documents.rejection_reason

    from goals

    inner join mapped_documents
        on mapped_documents.document_id = goals.document_id

),

final as (

    select * from mapped

)

select * from final
