with

source as (

    select * from {{ ref('company') }}

),

cleaned as (

    -- An empty field is null and never matches. The lookup key is kept exactly as exported
    -- (the contract matches sfdc_account_id exactly); descriptive fields are trimmed.
    select
        nullif(trim(gsid), '') as gsid,
        nullif(trim(name), '') as name,
        case when trim(sfdc_account_id) <> '' then sfdc_account_id end as sfdc_account_id,
        nullif(trim(industry), '') as industry,
        arr,
        nullif(trim(status), '') as status

    from source

),

final as (

    select * from cleaned

)

select * from final
