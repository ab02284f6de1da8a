with

source as (

    select * from {{ ref('gs_user') }}

),

cleaned as (

    -- Exports pad and blank fields freely; an empty field is null and never matches.
    select
        nullif(trim(gsid), '') as gsid,
        nullif(trim(name), '') as name,
        nullif(trim(email), '') as email,
        is_active

    from source

),

final as (

    select * from cleaned

)

select * from final
