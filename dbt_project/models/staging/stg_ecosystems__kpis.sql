with

source as (

    select * from {{ source('ecosystems_raw', 'kpis') }}

),

versions as (

    -- Defensive: the loader merges on id, but a replayed load must not duplicate a KPI.
    -- On an updated_at tie the tombstone wins: a deletion is final.
    select
        *,
        row_number() over (
            partition by id
            order by updated_at desc nulls last, deleted_at desc nulls last
        ) as version_rank

    from source

),

latest_versions as (

    select * from versions where version_rank = 1

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
        deleted_at is not null as is_deleted

    from latest_versions

),

final as (

    select * from renamed

)

select * from final
