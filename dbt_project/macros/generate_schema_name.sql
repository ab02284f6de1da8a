{#
    Custom schema names are used as-is (staging, intermediate, gainsight): the schemas are
    the interface to the orchestrator and to users, so no `<target>_` prefix.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
