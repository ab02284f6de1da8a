with

source as (

    select * from {{ source('ecosystems_raw', 'documents') }}

),

latest_versions as (

    {{ latest_record_versions('source') }}

),

renamed as (

    select
        ----------  ids
        id as document_id,
        opportunity__crm_opportunity_id as crm_opportunity_id,
        account__crm_account_id as crm_account_id,

        ---------- text
        name as document_name,
        type as document_type,
        status as document_status,
        currency,
        account__name as account_name,
        opportunity__name as crm_opportunity_name,

        ---------- people
        created_by__id as created_by_id,
        created_by__name as created_by_name,
        created_by__email as created_by_email,
        last_updated_by__id as last_updated_by_id,
        last_updated_by__name as last_updated_by_name,
        last_updated_by__email as last_updated_by_email,

        ---------- timestamps
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        {{ to_utc_timestamp('deleted_at') }} as deleted_at,

        ---------- booleans
        deleted_at is not null as is_deleted,

        ---------- lineage
        _dlt_load_id

    from latest_versions

),

final as (

    select * from renamed

)

select * from final
