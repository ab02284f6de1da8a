{#- Raw tables loaded before load ids were recorded lack the column until their next load. -#}
{%- set load_ids = {} -%}
{%- for table in ('documents', 'value_drivers', 'kpis') -%}
    {%- set columns = adapter.get_columns_in_relation(source('ecosystems_raw', table)) if execute else [] -%}
    {%- set names = columns | map(attribute='name') | map('lower') | list -%}
    {%- do load_ids.update({table: '_dlt_load_id' if '_dlt_load_id' in names else 'cast(null as varchar)'}) -%}
{%- endfor -%}

with

documents as (

    select * from {{ source('ecosystems_raw', 'documents') }}

),

value_drivers as (

    select * from {{ source('ecosystems_raw', 'value_drivers') }}

),

kpis as (

    select * from {{ source('ecosystems_raw', 'kpis') }}

),

record_loads as (

    select
        'documents' as object_name,
        id as record_id,
        cast(null as varchar) as parent_id,
        {{ load_ids['documents'] }} as load_id

    from documents

    union all

    select
        'value_drivers' as object_name,
        id as record_id,
        document_id as parent_id,
        {{ load_ids['value_drivers'] }} as load_id

    from value_drivers

    union all

    select
        'kpis' as object_name,
        id as record_id,
        value_driver_id as parent_id,
        {{ load_ids['kpis'] }} as load_id

    from kpis

),

final as (

    select * from record_loads

)

select * from final
