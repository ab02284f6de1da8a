{# One field of a JSON object as text (NULL when missing or JSON null). #}
{% macro json_extract_text(json_expression, field) -%}
    {{ return(adapter.dispatch('json_extract_text', 'goalsync')(json_expression, field)) }}
{%- endmacro %}

{% macro default__json_extract_text(json_expression, field) -%}
    ({{ json_expression }} ->> '{{ field }}')
{%- endmacro %}


{#
    A lateral join that yields one row per element of a JSON array, as
    `<alias>.element` (JSON) and `<alias>.position` (1-based position in the array).
    A NULL or empty array yields no rows.
#}
{% macro unnest_json_array(json_expression, alias) -%}
    {{ return(adapter.dispatch('unnest_json_array', 'goalsync')(json_expression, alias)) }}
{%- endmacro %}

{% macro default__unnest_json_array(json_expression, alias) -%}
    cross join lateral json_array_elements(cast({{ json_expression }} as json))
        with ordinality as {{ alias }} (element, position)
{%- endmacro %}

{% macro duckdb__unnest_json_array(json_expression, alias) -%}
    cross join lateral (
        select
            cast(key as integer) + 1 as position,
            value as element
        from json_each({{ json_expression }})
    ) as {{ alias }}
{%- endmacro %}


{# The whole row of a relation alias (CTE or table) as one JSON object. #}
{% macro row_to_json(relation_alias) -%}
    {{ return(adapter.dispatch('row_to_json', 'goalsync')(relation_alias)) }}
{%- endmacro %}

{% macro default__row_to_json(relation_alias) -%}
    to_json({{ relation_alias }})
{%- endmacro %}
