{# The whole row of a relation alias (CTE or table) as one JSON object. #}
{% macro row_to_json(relation_alias) -%}
    {{ return(adapter.dispatch('row_to_json', 'goalsync')(relation_alias)) }}
{%- endmacro %}

{% macro default__row_to_json(relation_alias) -%}
    to_json({{ relation_alias }})
{%- endmacro %}
