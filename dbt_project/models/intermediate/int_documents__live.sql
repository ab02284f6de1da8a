with

documents as (

    select * from {{ ref('stg_ecosystems__documents') }}

),

live_documents as (

    select * from documents
    where not is_deleted

),

final as (

    select * from live_documents

)

select * from final
