{#
    derived_lookup: a Gainsight "derived mapping" as one set-based join.

    Returns a SELECT of every row of `source_relation` plus three columns:
      <output_column>                  the target's `target_column` (default `gsid`) of the match
      <output_column>__lookup_status   'matched' | 'no_match' | 'multiple'
      <output_column>__lookup_rejected true when the status's policy is 'error', so an
                                       errors model can select the rejected rows

    Arguments
      source_relation  relation or CTE name whose rows are mapped
      target_relation  relation or CTE name looked up (e.g. ref('stg_gainsight__users'))
      match_on         1 to 6 pairs: [{'source': col, 'target': col, 'case_insensitive': false}]
      output_column    name of the new column
      target_column    target column returned (default 'gsid')
      on_no_match      'null' (default) | 'error' | any other value, used as the default value
      on_multiple      'error' (default) | 'lowest' (the lowest target_column of the matches)

    Rules: a NULL or empty value never matches, on either side; target rows with a NULL
    target_column are ignored; several target rows with the same target_column count as
    one match. The target is aggregated by its match columns and then left joined, so the
    cost does not grow with rows times candidates.

    A lookup that returns a GSID (target_column `gsid` or `*_gsid`) must write it into a
    GSID column: output_column named `*_gsid` and, when the model declares it, declared
    `varchar` (see macros/gsid_columns.sql).

    The checks raise when the model compiles, not while dbt parses the project, so a
    custom job whose lookup is wrong fails alone instead of stopping every job.

    Example
      with_created_by as (
          {{ derived_lookup(
              source_relation='goals',
              target_relation='users',
              match_on=[{'source': 'created_by_email', 'target': 'email', 'case_insensitive': true}],
              output_column='created_by_gsid',
              on_no_match='null',
              on_multiple='lowest',
          ) }}
      )
#}
{% macro derived_lookup(
    source_relation,
    target_relation,
    match_on,
    output_column,
    target_column='gsid',
    on_no_match='null',
    on_multiple='error'
) -%}

    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}

    {%- set max_match_pairs = 6 -%}
    {%- if match_on is mapping -%}
        {%- set match_on = [match_on] -%}
    {%- endif -%}
    {%- if match_on | length < 1 or match_on | length > max_match_pairs -%}
        {{ exceptions.raise_compiler_error(
            "derived_lookup for '" ~ output_column ~ "' matches on 1 to " ~ max_match_pairs
            ~ " column pairs (the limit is " ~ max_match_pairs ~ "); got " ~ (match_on | length) ~ "."
        ) }}
    {%- endif -%}
    {%- for pair in match_on -%}
        {%- if pair is not mapping or 'source' not in pair or 'target' not in pair -%}
            {{ exceptions.raise_compiler_error(
                "derived_lookup for '" ~ output_column ~ "': each match_on entry needs "
                ~ "'source' and 'target' columns; got " ~ pair ~ "."
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if on_multiple not in ('error', 'lowest') -%}
        {{ exceptions.raise_compiler_error(
            "derived_lookup for '" ~ output_column ~ "': on_multiple must be 'error' or 'lowest'; got '"
            ~ on_multiple ~ "'."
        ) }}
    {%- endif -%}

    {%- do check_gsid_output_column(output_column, target_column) -%}

    {%- if on_no_match is none or on_no_match == 'null' or on_no_match == 'error' -%}
        {%- set no_match_value = 'null' -%}
    {%- elif on_no_match is string -%}
        {%- set no_match_value = "'" ~ (on_no_match | replace("'", "''")) ~ "'" -%}
    {%- else -%}
        {%- set no_match_value = on_no_match -%}
    {%- endif -%}

    {%- set rejected_when = [] -%}
    {%- if on_no_match == 'error' -%}
        {%- do rejected_when.append('lookup_match.match_count is null') -%}
    {%- endif -%}
    {%- if on_multiple == 'error' -%}
        {%- do rejected_when.append('lookup_match.match_count > 1') -%}
    {%- endif -%}

    select
        lookup_source.*,
        case
            when lookup_match.match_count = 1 then lookup_match.lowest_value
            {%- if on_multiple == 'lowest' %}
            when lookup_match.match_count > 1 then lookup_match.lowest_value
            {%- endif %}
            when lookup_match.match_count is null then {{ no_match_value }}
        end as {{ output_column }},
        case
            when lookup_match.match_count is null then 'no_match'
            when lookup_match.match_count = 1 then 'matched'
            else 'multiple'
        end as {{ output_column }}__lookup_status,
        {%- if rejected_when %}
        coalesce({{ rejected_when | join(' or ') }}, false) as {{ output_column }}__lookup_rejected
        {%- else %}
        false as {{ output_column }}__lookup_rejected
        {%- endif %}

    from {{ source_relation }} as lookup_source

    left join (
        select
            {%- for pair in match_on %}
            {{ _derived_lookup_key(pair.target, pair.get('case_insensitive', false)) }} as match_key_{{ loop.index }},
            {%- endfor %}
            count(distinct {{ target_column }}) as match_count,
            min({{ target_column }}) as lowest_value
        from {{ target_relation }}
        where {{ target_column }} is not null
            and cast({{ target_column }} as varchar) <> ''
            {%- for pair in match_on %}
            and {{ pair.target }} is not null
            and cast({{ pair.target }} as varchar) <> ''
            {%- endfor %}
        group by
            {%- for pair in match_on %}
            {{ _derived_lookup_key(pair.target, pair.get('case_insensitive', false)) }}{{ ',' if not loop.last }}
            {%- endfor %}
    ) as lookup_match
        on
        {%- for pair in match_on %}
            {{ 'and ' if not loop.first }}{{ _derived_lookup_key('lookup_source.' ~ pair.source, pair.get('case_insensitive', false)) }} = lookup_match.match_key_{{ loop.index }}
        {%- endfor %}

{%- endmacro %}


{% macro _derived_lookup_key(column, case_insensitive) -%}
    {%- if case_insensitive -%}
        lower({{ column }})
    {%- else -%}
        {{ column }}
    {%- endif -%}
{%- endmacro %}
