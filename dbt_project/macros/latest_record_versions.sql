{#
    The latest version of each raw record, one row per id.
    Defensive: the loader merges on id, but a replayed load must not duplicate a record.
    On an updated_at tie the tombstone wins: a deletion is final.
#}
{% macro latest_record_versions(relation) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by id
                order by updated_at desc nulls last, deleted_at desc nulls last
            ) as version_rank
        from {{ relation }}
    ) as versions
    where version_rank = 1
{%- endmacro %}
