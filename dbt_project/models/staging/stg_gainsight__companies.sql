with

source as (

    select * from {{ ref('company') }}

),

cleaned as (

    -- Exports pad and blank fields freely; an empty field is null and never matches.
    select
        nullif(trim(gsid), '') as gsid,
        nullif(trim(name), '') as name,
        nullif(trim(sfdc_account_id), '') as sfdc_account_id,
        nullif(trim(industry), '') as industry,
        arr,
        nullif(trim(status), '') as status

    from source

),

final as (

    select * from cleaned

)

select * from final
