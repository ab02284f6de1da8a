{#
    A time-zone-aware instant as a plain UTC TIMESTAMP. `at time zone 'UTC'` converts the
    instant itself, so the result never depends on the session's TimeZone (a bare cast to
    TIMESTAMP would render the instant in the session's zone).
#}
{% macro to_utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'goalsync')(expression)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(expression) -%}
    ({{ expression }} at time zone 'UTC')
{%- endmacro %}


{#
    Cast that yields NULL instead of failing on a malformed value (one bad actual must not
    stop the job). Databases without TRY_CAST fall back to a plain cast.
#}
{% macro try_cast(expression, data_type) -%}
    {{ return(adapter.dispatch('try_cast', 'goalsync')(expression, data_type)) }}
{%- endmacro %}

{% macro default__try_cast(expression, data_type) -%}
    cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{% macro duckdb__try_cast(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}
