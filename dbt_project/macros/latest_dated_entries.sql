{#
    Per row of `relation`, the entry of the JSON array in `json_column` (objects with
    `measured_on` and `value`) that was measured last: the latest instant, and on a tie the
    entry that comes last in the array (the later-recorded correction). Entries without a
    parseable instant are never the latest. A query of `key_column`, the `carried_columns`
    of the row, `latest_measured_on` (as received), `latest_value_text` and
    `latest_entry_position` (1-based, in the array as received); all null when no entry is
    dated.
#}
{% macro latest_dated_entries(relation, key_column, json_column, carried_columns=[]) -%}
    {{ return(adapter.dispatch('latest_dated_entries', 'goalsync')(relation, key_column, json_column, carried_columns)) }}
{%- endmacro %}

{% macro default__latest_dated_entries(relation, key_column, json_column, carried_columns=[]) -%}
    {{ exceptions.raise_compiler_error(
        "latest_dated_entries has no " ~ target.type ~ " version yet: add "
        ~ target.type ~ "__latest_dated_entries in macros/latest_dated_entries.sql"
    ) }}
{%- endmacro %}

{% macro duckdb__latest_dated_entries(relation, key_column, json_column, carried_columns=[]) -%}
    -- One parse of each array into typed entries, kept as a list (no unnest, no window):
    -- at a million KPIs this is the costliest step of the job. The largest
    -- (measured_on, position) pair is the latest entry.
    select
        {{ key_column }},
        {%- for column in carried_columns %}
        {{ column }},
        {%- endfor %}
        latest_entry.measured_on_text as latest_measured_on,
        latest_entry.value_text as latest_value_text,
        latest_entry.entry_position as latest_entry_position
    from (
        select
            {{ key_column }},
            {%- for column in carried_columns %}
            {{ column }},
            {%- endfor %}
            list_max(
                list_filter(
                    {{ duckdb__dated_entry_list(json_column) }},
                    lambda entry: entry.measured_on is not null
                )
            ) as latest_entry
        from {{ relation }}
    ) as latest_entries
{%- endmacro %}


{#
    Per row of `relation`, one row per entry of the JSON array in `json_column`, in the
    order received: `key_column`, the `carried_columns`, `entry_position` (1-based, the
    position latest_dated_entries reports), `measured_on_text` (as received),
    `measured_on` (the instant latest_dated_entries compares; null when it does not parse)
    and `value_text`. A null or empty array gives no rows.
#}
{% macro dated_entry_rows(relation, key_column, json_column, carried_columns=[]) -%}
    {{ return(adapter.dispatch('dated_entry_rows', 'goalsync')(relation, key_column, json_column, carried_columns)) }}
{%- endmacro %}

{% macro default__dated_entry_rows(relation, key_column, json_column, carried_columns=[]) -%}
    {{ exceptions.raise_compiler_error(
        "dated_entry_rows has no " ~ target.type ~ " version yet: add "
        ~ target.type ~ "__dated_entry_rows in macros/latest_dated_entries.sql"
    ) }}
{%- endmacro %}

{% macro duckdb__dated_entry_rows(relation, key_column, json_column, carried_columns=[]) -%}
    select
        {{ key_column }},
        {%- for column in carried_columns %}
        {{ column }},
        {%- endfor %}
        entry.entry_position,
        entry.measured_on_text,
        entry.measured_on,
        entry.value_text
    from (
        select
            {{ key_column }},
            {%- for column in carried_columns %}
            {{ column }},
            {%- endfor %}
            unnest({{ duckdb__dated_entry_list(json_column) }}) as entry
        from {{ relation }}
    ) as dated_entries
{%- endmacro %}


{% macro duckdb__dated_entry_list(json_column) -%}
    {#- The array as a list of typed entries; the field order makes list_max pick the latest. -#}
    list_transform(
        from_json({{ json_column }}, '[{"measured_on": "VARCHAR", "value": "VARCHAR"}]'),
        lambda entry, entry_position: {
            'measured_on': {{ try_cast('entry.measured_on', 'timestamp with time zone') }},
            'entry_position': entry_position,
            'measured_on_text': entry.measured_on,
            'value_text': entry.value
        }
    )
{%- endmacro %}
