with

source as (

    select * from {{ ref('gs_user') }}

),

cleaned as (

    -- An empty field is null and never matches. The email is kept as exported (the contract
    -- matches lower(email) exactly); descriptive fields are trimmed.
    select
        nullif(trim(gsid), '') as gsid,
        nullif(trim(name), '') as name,
        case when trim(email) <> '' then email end as email,
        is_active

    from source

),

final as (

    select * from cleaned

)

select * from final
