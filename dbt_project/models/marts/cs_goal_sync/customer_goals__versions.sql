{{ config(materialized='ephemeral') }}

with

customer_goals as (

    select * from {{ ref('customer_goals') }}

),

final as (

    -- the run that takes the snapshot (the orchestrator passes its run id; null otherwise)
    select
        customer_goals.*,
        {{ goalsync_run_id() }} as goalsync_run_id

    from customer_goals

)

select * from final
