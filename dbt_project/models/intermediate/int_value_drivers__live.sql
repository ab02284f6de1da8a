with

value_drivers as (

    select * from {{ ref('stg_ecosystems__value_drivers') }}

),

live_documents as (

    select * from {{ ref('int_documents__live') }}

),

live_value_drivers as (

    -- A value driver of a deleted or never-arrived document is gone with it: the API
    -- sends no tombstones for children.
    select value_drivers.*

    from value_drivers

    inner join live_documents
        on live_documents.document_id = value_drivers.document_id

    where not value_drivers.is_deleted

),

final as (

    select * from live_value_drivers

)

select * from final
