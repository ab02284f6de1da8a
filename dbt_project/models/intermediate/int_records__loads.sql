with

documents as (

    select * from {{ ref('stg_ecosystems__documents') }}

),

value_drivers as (

    select * from {{ ref('stg_ecosystems__value_drivers') }}

),

kpis as (

    select * from {{ ref('stg_ecosystems__kpis') }}

),

record_loads as (

    select
        'documents' as object_name,
        document_id as record_id,
        cast(null as varchar) as parent_id,
        _dlt_load_id as load_id

    from documents

    union all

    select
        'value_drivers' as object_name,
        value_driver_id as record_id,
        document_id as parent_id,
        _dlt_load_id as load_id

    from value_drivers

    union all

    select
        'kpis' as object_name,
        kpi_id as record_id,
        value_driver_id as parent_id,
        _dlt_load_id as load_id

    from kpis

),

final as (

    select * from record_loads

)

select * from final
