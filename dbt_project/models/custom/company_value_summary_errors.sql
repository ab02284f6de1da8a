with

live_documents as (

    select * from {{ ref('int_documents__live') }}

),

mapped_documents as (

    select * from {{ ref('company_value_summary__documents') }}

),

rejected_documents as (

    select
        document_id,
        rejection_reason

    from mapped_documents

    where rejection_reason is not null

),

final as (

    select
        rejected_documents.document_id as record_key,
        rejected_documents.rejection_reason as reason,
        {{ row_to_json('live_documents') }} as record

    from rejected_documents

    inner join live_documents
        on live_documents.document_id = rejected_documents.document_id

)

select * from final
