with

goals as (

    select * from {{ ref('int_goals__joined') }}

),

mapped_goals as (

    select * from {{ ref('int_goals__mapped') }}

),

rejected_goals as (

    select
        goal_key,
        rejection_reason

    from mapped_goals

    where rejection_reason is not null

),

final as (

    select
        rejected_goals.goal_key as record_key,
        rejected_goals.rejection_reason as reason,
        {{ row_to_json('goals') }} as record

    from rejected_goals

    inner join goals
        on goals.goal_key = rejected_goals.goal_key

)

select * from final
