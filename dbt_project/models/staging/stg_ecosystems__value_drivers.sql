with

source as (

    select * from {{ source('ecosystems_raw', 'value_drivers') }}

),

latest_versions as (

    {{ latest_record_versions('source') }}

),

renamed as (

    select
        ----------  ids
        id as value_driver_id,
        document_id,

        ---------- text
        name as value_driver_name,
        solution as value_driver_solution,
        category as value_driver_category,
        currency,

        ---------- numerics
        total_benefit,

        ---------- json (loaded as text holding the JSON array as received)
        cast(realization_calendar as json) as realization_calendar,

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
