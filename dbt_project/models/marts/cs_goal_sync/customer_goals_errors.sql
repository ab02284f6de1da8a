{#-
    The record of a rejected goal is its int_goals__joined row: the columns of
    int_goals__joined, read from int_goals__mapped (which adds only the lookups), so the
    goals' joins are evaluated once. Without the columns of int_goals__joined to name
    (unit tests, `dbt compile` before the first build) the record comes from the join.
-#}
{%- set goal_columns = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(ref('int_goals__joined')) -%}
        {%- do goal_columns.append(column.name) -%}
    {%- endfor -%}
{%- endif -%}

with

goals as (

    select * from {{ ref('int_goals__joined') }}

),

mapped_goals as (

    select * from {{ ref('int_goals__mapped') }}

),

rejected_goals as (

    select *

    from mapped_goals

    where rejection_reason is not null

),

final as (

    select
        rejected_goals.goal_key as record_key,
        rejected_goals.rejection_reason as reason,
        {% if goal_columns -%}
            to_json(struct_pack(
                {%- for column in goal_columns %}
                {{ adapter.quote(column) }} := rejected_goals.{{ adapter.quote(column) }}{{ ',' if not loop.last }}
                {%- endfor %}
            )) as record
        {%- else -%}
            {{ row_to_json('goals') }} as record
        {%- endif %}

    from rejected_goals

    {% if not goal_columns -%}
        inner join goals
            on goals.goal_key = rejected_goals.goal_key
    {%- endif %}

)

select * from final
