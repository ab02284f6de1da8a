{#
    A Gainsight-style GSID (36 upper-case characters, `1P` + a 2-character object code)
    that is a pure function of the key: the same key gets the same GSID in every run and
    in a rebuild from scratch, so rows keep their identity without any stored state.
    The object name seeds both the object code and the hash, so two objects never share ids.
#}
{% macro stable_gsid(key_expression, object_name) -%}
    {{ return(adapter.dispatch('stable_gsid', 'goalsync')(key_expression, object_name)) }}
{%- endmacro %}

{% macro default__stable_gsid(key_expression, object_name) -%}
    {%- set object_code = local_md5(object_name)[:2] | upper -%}
    ('1P{{ object_code }}' || upper(md5('{{ object_name }}:' || cast({{ key_expression }} as varchar))))
{%- endmacro %}
