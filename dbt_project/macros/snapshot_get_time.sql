{#
    Snapshot validity (dbt_valid_from/to, dbt_updated_at) in UTC, like every other timestamp
    of the project: dbt-duckdb's own version renders now() in the session's time zone.
#}
{% macro duckdb__snapshot_get_time() -%}
    {{ to_utc_timestamp('current_timestamp') }}
{%- endmacro %}
