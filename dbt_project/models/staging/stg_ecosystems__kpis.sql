with

source as (

    select * from {{ source('ecosystems_raw', 'kpis') }}

),

latest_versions as (

    {{ latest_record_versions('source') }}

),

renamed as (

    select
        ----------  ids
        id as kpi_id,
        value_driver_id,

        ---------- text
        name as kpi_name,
        unit as kpi_unit,
        direction as kpi_direction,

        ---------- numerics
        baseline as kpi_baseline,
        target as kpi_target,

        ---------- json (loaded as text holding the JSON array as received)
        cast(actuals as json) as actuals,

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
