"""Custom jobs: scaffold new jobs (`job new`); what a custom job may write.

A custom job is a dbt model in `dbt_project/models/custom/` (plus an errors model) and an
entry in `jobs.yml`. dbt computes the rows in schema `custom_staging` and merges them into
`gainsight.<object>` by the job's key (goalsync/job_kinds.py, goalsync/destinations.py).
Rows of the object that are not in the output are left alone, as in Gainsight.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

import yaml

from .errors import ConfigError, shown_path
from .job_kinds import COMPANY_KEY, CUSTOM_KINDS, reserved_objects
from .jobs_config import DEFAULT_JOBS_PATH, load_jobs_config
from .paths import DBT_PROJECT_DIR
from .schemas import DESTINATION_SCHEMA, MODELS_SCHEMA

# --- `job new`: scaffolding -----------------------------------------------------------

SCAFFOLD_KINDS = CUSTOM_KINDS
SCAFFOLD_OPERATIONS = ("insert", "update", "upsert")


@dataclass(frozen=True)
class _Source:
    """A record type a job can start from, joined to its document for the company lookup."""

    imports: tuple[tuple[str, str], ...]  # (CTE name, dbt model), the source first
    joins: str  # from the source to live_documents (which carries the CRM account id)
    key: str
    fields: tuple[tuple[str, str], ...]  # (column, data type) copied by direct mapping


def _document_join(child: str) -> str:
    return f"inner join live_documents\n        on live_documents.document_id = {child}.document_id"


_LIVE_DOCUMENTS = ("live_documents", "int_documents__live")
_LIVE_VALUE_DRIVERS = ("live_value_drivers", "int_value_drivers__live")
SOURCES: dict[str, _Source] = {
    "documents": _Source(
        imports=(_LIVE_DOCUMENTS,),
        joins="",
        key="document_id",
        fields=(
            ("document_id", "varchar"),
            ("document_name", "varchar"),
            ("created_at", "timestamp"),
        ),
    ),
    "value_drivers": _Source(
        imports=(_LIVE_VALUE_DRIVERS, _LIVE_DOCUMENTS),
        joins=_document_join("live_value_drivers"),
        key="value_driver_id",
        fields=(
            ("value_driver_id", "varchar"),
            ("value_driver_name", "varchar"),
            ("total_benefit", "double"),
        ),
    ),
    "kpis": _Source(
        imports=(("live_kpis", "int_kpis__live"), _LIVE_VALUE_DRIVERS, _LIVE_DOCUMENTS),
        joins="inner join live_value_drivers\n"
        "        on live_value_drivers.value_driver_id = live_kpis.value_driver_id\n\n    "
        + _document_join("live_value_drivers"),
        key="kpi_id",
        fields=(("kpi_id", "varchar"), ("kpi_name", "varchar"), ("kpi_target", "double")),
    ),
    "customer_goals": _Source(
        imports=(("customer_goals", "customer_goals"), _LIVE_DOCUMENTS),
        joins=_document_join("customer_goals"),
        key="goal_key",
        fields=(("goal_key", "varchar"), ("kpi_name", "varchar"), ("kpi_actuals", "double")),
    ),
}


@dataclass(frozen=True)
class ScaffoldedJob:
    job_name: str
    model: str
    files: tuple[Path, ...]
    jobs_path: Path


def model_name_for(job_name: str) -> str:
    """`Company Value Summary` → `company_value_summary`."""
    name = re.sub(r"[^a-z0-9]+", "_", job_name.lower()).strip("_")
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise ConfigError(
            f"cannot derive a dbt model name from job name '{job_name}': "
            "start the name with a letter (a-z)"
        )
    return name


def scaffold_job(
    name: str,
    source: str,
    destination: str,
    kind: str = "custom",
    operation: str = "upsert",
    key: str | None = None,
    *,
    jobs_path: Path | None = None,
    dbt_project_dir: Path | None = None,
) -> ScaffoldedJob:
    """Write a working custom job the user then edits: its dbt models and its jobs.yml entry."""
    jobs_path = jobs_path or DEFAULT_JOBS_PATH
    dbt_project_dir = dbt_project_dir or DBT_PROJECT_DIR
    name = name.strip()
    config = load_jobs_config(jobs_path)
    for existing in config.jobs:
        if existing.casefold() == name.casefold():
            raise ConfigError(
                f"job '{existing}' already exists in {shown_path(jobs_path)}; choose another name"
            )
    if source not in SOURCES or kind not in SCAFFOLD_KINDS or operation not in SCAFFOLD_OPERATIONS:
        raise ConfigError(
            f"use --source {'|'.join(SOURCES)}, --kind {'|'.join(SCAFFOLD_KINDS)}, "
            f"--operation {'|'.join(SCAFFOLD_OPERATIONS)}"
        )
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", destination):
        raise ConfigError(
            f"destination '{destination}' is not a valid object name: use letters, digits "
            "and underscores, starting with a letter"
        )
    owner = reserved_objects(config).get(destination)
    if owner:
        raise ConfigError(
            f"{DESTINATION_SCHEMA}.{destination} belongs to {owner}; choose another destination"
        )
    model = model_name_for(name)
    spec = SOURCES[source]
    key = _scaffold_key(spec, kind, key)
    models_dir = dbt_project_dir / "models"
    for taken in (f"{model}__mapped", model, f"{model}_errors"):
        if any(models_dir.rglob(f"{taken}.sql")):
            raise ConfigError(
                f"a dbt model named '{taken}' already exists in {shown_path(models_dir)}; "
                "choose another job name"
            )
    columns = _output_columns(spec, kind, source)
    texts = {
        f"{model}__mapped.sql": _mapped_sql(spec),
        f"{model}.sql": _output_sql(model, columns, kind),
        f"{model}_errors.sql": _ERRORS_SQL.substitute(
            model=model, fields=_column_lines(c for c, _ in spec.fields), key=spec.key
        ),
        f"{model}.yml": _properties_yml(name, model, spec, columns, destination, key),
    }
    entry = _jobs_entry(name, model, destination, kind, operation, key)
    files = tuple(models_dir / "custom" / file_name for file_name in texts)
    previous = jobs_path.read_text(encoding="utf-8") if jobs_path.exists() else None
    try:
        files[0].parent.mkdir(parents=True, exist_ok=True)
        for path, text in zip(files, texts.values(), strict=True):
            path.write_text(text, encoding="utf-8")
        jobs_path.write_text(_with_job_entry(previous or "", entry), encoding="utf-8")
        load_jobs_config(jobs_path)
    except (ConfigError, OSError) as error:
        for path in files:
            path.unlink(missing_ok=True)
        if previous is None:
            jobs_path.unlink(missing_ok=True)
        else:
            jobs_path.write_text(previous, encoding="utf-8")
        raise ConfigError(
            f"could not add job '{name}', nothing was changed ({error}); add it under `jobs:` "
            f"in {shown_path(jobs_path)} by hand: {' '.join(entry.split())}"
        ) from None
    return ScaffoldedJob(name, model, files, jobs_path)


def _scaffold_key(spec: _Source, kind: str, key: str | None) -> str:
    if kind == "company":
        if key not in (None, COMPANY_KEY):
            raise ConfigError(f"a company destination is keyed by {COMPANY_KEY}; leave out --key")
        return COMPANY_KEY
    choices = [column for column, _ in spec.fields] + [COMPANY_KEY]
    key = key or spec.key
    if key not in choices:
        raise ConfigError(
            f"--key {key} is not a column of the scaffolded model; use one of "
            f"{', '.join(choices)} (change it in jobs.yml once you have edited the model)"
        )
    return key


def _output_columns(spec: _Source, kind: str, source: str) -> list[tuple[str, str, str]]:
    """(select expression, column, declared type) of the job's output model."""
    if kind == "company":
        return [("company_gsid", COMPANY_KEY, "varchar"), ("count(*)", source, "bigint")]
    direct = [(f"cast({column} as {type_})", column, type_) for column, type_ in spec.fields]
    return [*direct, ("company_gsid", COMPANY_KEY, "varchar")]


def _column_lines(expressions) -> str:
    return ",\n".join(f"        {expression}" for expression in expressions)


def _mapped_sql(spec: _Source) -> str:
    source = spec.imports[0][0]
    return _MAPPED_SQL.substitute(
        imports=",\n\n".join(
            f"{cte} as (\n\n    select * from {{{{ ref('{model}') }}}}\n\n)"
            for cte, model in spec.imports
        ),
        fields=_column_lines(f"{source}.{column}" for column, _ in spec.fields),
        source=source,
        joins=spec.joins,
    )


def _output_sql(model: str, columns: list[tuple[str, str, str]], kind: str) -> str:
    return _OUTPUT_SQL.substitute(
        model=model,
        columns=_column_lines(
            expression if expression == column else f"{expression} as {column}"
            for expression, column, _ in columns
        ),
        group_by="\n    group by company_gsid\n" if kind == "company" else "",
    )


def _properties_yml(
    job_name: str,
    model: str,
    spec: _Source,
    columns: list[tuple[str, str, str]],
    destination: str,
    key: str,
) -> str:
    blocks = []
    for _, column, data_type in columns:
        tests = ["unique", "not_null"] if column == key else []
        blocks.append(
            f"      - name: {column}\n"
            f"        description: {_DESCRIPTIONS.get(column, column + '.')}\n"
            f"        data_type: {data_type}\n"
            + (
                "        data_tests:\n" + "".join(f"          - {test}\n" for test in tests)
                if tests
                else ""
            )
        )
    return _PROPERTIES_YML.substitute(
        job=job_name,
        mapped_description=_yaml_text(f"Records of job '{job_name}' with their derived mappings."),
        output_description=_yaml_text(
            f"Output rows of job '{job_name}', written to gainsight.{destination}."
        ),
        errors_description=_yaml_text(
            f"Records job '{job_name}' rejects, copied to activity.error_records on every run."
        ),
        model=model,
        destination=destination,
        schema=MODELS_SCHEMA,
        record_key=spec.key,
        columns="".join(blocks).rstrip("\n"),
    )


def _yaml_text(value: str) -> str:
    """A double-quoted YAML scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _yaml_scalar(value: str) -> str:
    plain = re.match(r"^[A-Za-z][A-Za-z0-9 _.()-]*$", value) and yaml.safe_load(value) == value
    return value if plain else _yaml_text(value)


def _jobs_entry(
    name: str, model: str, destination: str, kind: str, operation: str, key: str
) -> str:
    return _JOBS_ENTRY.substitute(
        name=_yaml_scalar(name),
        model=model,
        destination=destination,
        kind=kind,
        operation=operation,
        key=key,
    )


def _with_job_entry(text: str, entry: str) -> str:
    """jobs.yml text with the entry added at the end of its `jobs:` list, all else kept."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if re.match(r"^jobs:\s*(#.*)?$", line)), None)
    if start is None:
        return "".join(lines) + "jobs:\n" + entry
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^[^\s#-]", lines[i])), len(lines)
    )
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1  # comments just above the next key belong to it
    items = [line for line in lines[start + 1 : end] if re.match(r"^\s*- ", line)]
    indent = re.match(r"^(\s*)- ", items[0]).group(1) if items else "  "
    entry = "".join(indent + line[2:] for line in entry.splitlines(keepends=True))
    separator = "\n" if items and lines[end - 1].strip() else ""
    return "".join(lines[:end]) + separator + entry + "".join(lines[end:])


_DESCRIPTIONS = {
    COMPANY_KEY: "Gainsight Company gsid (derived mapping), joinable to gainsight.company."
}
_JOBS_ENTRY = Template("""\
  - name: $name
    model: $model
    errors_model: ${model}_errors
    # [] reads what CS Goal Sync loaded: run it in a chain after CS Goal Sync. List
    # documents, value_drivers, kpis here to extract them first instead.
    extract: []
    destination:
      object: $destination
      kind: $kind
      operation: $operation
      key: [$key]
""")

_MAPPED_SQL = Template("""\
with

$imports,

companies as (

    select * from {{ ref('stg_gainsight__companies') }}

),

source_records as (

    -- The fields the job reads (add any column of the models above), and its filter.
    select
$fields,
        live_documents.account_name,
        live_documents.crm_account_id

    from $source

    $joins

    -- where $source.<field> = '<value>'

),

with_company as (

    -- Derived mapping: the Gainsight company whose sfdc_account_id is the document's CRM
    -- account id. 1 to 6 match pairs, each may add 'case_insensitive': true, e.g.
    -- {'source': 'account_name', 'target': 'name', 'case_insensitive': true};
    -- on_no_match: 'null' | 'error' | a default value; on_multiple: 'error' | 'lowest'.
    {{ derived_lookup(
        source_relation='source_records',
        target_relation='companies',
        match_on=[
            {'source': 'crm_account_id', 'target': 'sfdc_account_id'},
        ],
        output_column='company_gsid',
        on_no_match='error',
        on_multiple='error',
    ) }}

),

final as (

    select
        *,
        {{ derived_lookup_rejection_reason(['company_gsid']) }} as rejection_reason

    from with_company

)

select * from final
""")

_OUTPUT_SQL = Template("""\
with

mapped as (

    select * from {{ ref('${model}__mapped') }}

),

accepted as (

    -- Records a lookup rejected are error records (${model}_errors), not output rows.
    select * from mapped where rejection_reason is null

),

final as (

    -- Direct mappings: source field → destination column, cast to its declared type.
    select
$columns

    from accepted
$group_by
)

select * from final
""")

_ERRORS_SQL = Template("""\
with

mapped as (

    select * from {{ ref('${model}__mapped') }}

),

rejected as (

    select
$fields,
        account_name,
        crm_account_id,
        rejection_reason

    from mapped

    where rejection_reason is not null

),

final as (

    select
        cast(rejected.$key as varchar) as record_key,
        rejected.rejection_reason as reason,
        {{ row_to_json('rejected') }} as record

    from rejected

)

select * from final
""")

_PROPERTIES_YML = Template("""\
# Job '$job' (jobs.yml), scaffolded by `orchestrate.py job new`: edit freely.
#   ${model}__mapped  source records, filter, derived mappings (ephemeral: inlined below)
#   ${model}          output rows → gainsight.$destination; declare every column's type
#   ${model}_errors   records a lookup rejects → activity.error_records
# Unit tests: see models/custom/company_value_summary.yml.
models:
  - name: ${model}__mapped
    description: $mapped_description
    config:
      materialized: ephemeral

  - name: $model
    description: $output_description
    config:
      schema: $schema
      materialized: table
      contract:
        enforced: true
    columns:
$columns

  - name: ${model}_errors
    description: $errors_description
    config:
      schema: $schema
      materialized: view
      contract:
        enforced: true
    columns:
      - name: record_key
        description: $record_key of the rejected record.
        data_type: varchar
        data_tests:
          - not_null
      - name: reason
        description: Why the record was rejected, e.g. company_not_found.
        data_type: varchar
      - name: record
        description: The record as JSON.
        data_type: json
""")
