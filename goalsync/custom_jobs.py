"""Custom jobs: write a job's dbt output into its Gainsight-side object; scaffold new jobs.

A custom job is a dbt model in `dbt_project/models/custom/` (plus an errors model) and an
entry in `jobs.yml`. dbt computes the rows in schema `custom_staging`; `apply_destination`
then inserts, updates or upserts them into `gainsight.<object>` by the job's key. Rows of
the object that are not in the output are left alone, as in Gainsight.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

import duckdb
import yaml

from .errors import ConfigError, shown_path
from .jobs_config import DEFAULT_JOBS_PATH, JobsConfig, JobSpec, load_jobs_config
from .paths import DBT_PROJECT_DIR, PROJECT_ROOT

MODELS_SCHEMA = "custom_staging"
DESTINATION_SCHEMA = "gainsight"
CUSTOM_KINDS = ("custom", "company")
COMPANY_KEY = "company_gsid"
COMPANY_RELATION = f"{DESTINATION_SCHEMA}.company"
ERROR_RECORD_COLUMNS = ("record_key", "reason", "record")
SEEDS_DIR = PROJECT_ROOT / "seeds"


class DestinationError(Exception):
    """The job's rows cannot be written to its object; the message is the one-line reason."""


def writes_custom_object(job: JobSpec) -> bool:
    return job.destination.kind in CUSTOM_KINDS


def dbt_selection(job: JobSpec) -> list[str]:
    """Only the job's own models: what they read is built by the job that owns it.

    `+model` would also rebuild customer_goals when a custom model reads it, changing
    that table outside CS Goal Sync's runs (and its counts).
    """
    return [job.model] + ([job.errors_model] if job.errors_model else [])


def explain_build_failure(message: str) -> str:
    """A custom job reads models that CS Goal Sync builds: say so when one is missing."""
    if "does not exist" in message:
        return f"{message} (custom jobs read what CS Goal Sync builds: run it first)"
    return message


def reserved_objects(config: JobsConfig, seeds_dir: Path = SEEDS_DIR) -> dict[str, str]:
    """Gainsight-side tables a custom job must not write, with who owns each."""
    owners = {path.stem: "a Gainsight reference seed" for path in seeds_dir.glob("*.csv")}
    for job in config.jobs.values():
        if not writes_custom_object(job):
            for model in (job.model, job.errors_model):
                if model:
                    owners[model] = f"job '{job.name}'"
    return owners


def check_destination(job: JobSpec, config: JobsConfig) -> None:
    owner = reserved_objects(config).get(job.destination.object_name)
    if owner:
        raise DestinationError(
            f"{DESTINATION_SCHEMA}.{job.destination.object_name} belongs to {owner}: "
            "give the job's destination another object name in jobs.yml"
        )
    if not job.destination.key:
        raise DestinationError(
            "a custom job's destination needs a key (its gsid is derived from it): "
            "add `key: [column, ...]` to the destination in jobs.yml"
        )
    if job.destination.kind == "company" and job.destination.key != (COMPANY_KEY,):
        raise DestinationError(
            f"a company destination has one row per company, keyed by {COMPANY_KEY}: "
            f"set `key: [{COMPANY_KEY}]` in jobs.yml"
        )


# --- writing the destination ----------------------------------------------------------


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _relation(schema: str, name: str) -> str:
    return f"{_quote(schema)}.{_quote(name)}"


def _columns(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, str]:
    rows = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return dict(rows)


def gsid_sql(alias: str, key: tuple[str, ...], object_name: str) -> str:
    """The stable gsid of a row from its key: the same formula as macros/stable_gsid.sql."""
    object_code = hashlib.md5(object_name.encode()).hexdigest()[:2].upper()
    parts = [f"cast({alias}.{_quote(column)} as varchar)" for column in key]
    key_text = parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"
    return f"('1P{object_code}' || upper(md5('{object_name}:' || {key_text})))"


def is_gsid_column(name: str) -> bool:
    return name == "gsid" or name.endswith("_gsid")


def apply_destination(connection: duckdb.DuckDBPyConnection, job: JobSpec) -> None:
    """Write the job's output rows into `gainsight.<object>` by its operation, atomically."""
    columns = _columns(connection, MODELS_SCHEMA, job.model)
    if not columns:
        raise DestinationError(
            f"model '{job.model}' was not built in schema {MODELS_SCHEMA}: a custom job's "
            f"models need `config: {{schema: {MODELS_SCHEMA}}}` in their .yml"
        )
    _check_output_columns(job, columns)
    if job.errors_model:
        _check_errors_model(connection, job.errors_model)
    _check_output_rows(connection, job)
    connection.begin()
    try:
        _create_or_extend(connection, job.destination.object_name, columns)
        for statement in operation_sql(job, list(columns)):
            connection.execute(statement)
        connection.commit()
    except duckdb.Error as error:
        connection.rollback()
        raise DestinationError(
            f"writing {DESTINATION_SCHEMA}.{job.destination.object_name} failed: "
            f"{_first_line(error)}"
        ) from None


def operation_sql(job: JobSpec, columns: list[str]) -> list[str]:
    """Portable SQL of the destination operation, matching rows by the key.

    update: rows whose key exists and whose content (but compare_exclude) differs, so an
    unchanged row is not updated; insert: rows whose key is new, each with its stable gsid;
    upsert: both; replace: both, and rows whose key is no longer in the output are deleted.
    """
    destination = job.destination
    target = _relation(DESTINATION_SCHEMA, destination.object_name)
    output = _relation(MODELS_SCHEMA, job.model)
    key = destination.key
    matches = " and ".join(f"existing.{_quote(c)} = output.{_quote(c)}" for c in key)
    values = [column for column in columns if column not in key]
    compared = [column for column in values if column not in destination.compare_exclude]
    statements = []
    if destination.operation in ("update", "upsert", "replace") and compared:
        assignments = ", ".join(f"{_quote(c)} = output.{_quote(c)}" for c in values)
        differs = " or ".join(
            f"existing.{_quote(c)} is distinct from output.{_quote(c)}" for c in compared
        )
        statements.append(
            f"update {target} as existing set {assignments} from {output} as output "
            f"where {matches} and ({differs})"
        )
    if destination.operation in ("insert", "upsert", "replace"):
        names = ", ".join(_quote(c) for c in columns)
        selected = ", ".join(f"output.{_quote(c)}" for c in columns)
        gsid = gsid_sql("output", key, destination.object_name)
        statements.append(
            f"insert into {target} (gsid, {names}) select {gsid}, {selected} "
            f"from {output} as output "
            f"where not exists (select 1 from {target} as existing where {matches})"
        )
    if destination.operation == "replace":
        statements.append(
            f"delete from {target} as existing "
            f"where not exists (select 1 from {output} as output where {matches})"
        )
    return statements


def _check_output_columns(job: JobSpec, columns: dict[str, str]) -> None:
    missing = [column for column in job.destination.key if column not in columns]
    if missing:
        raise DestinationError(
            f"key column '{missing[0]}' (jobs.yml) is not a column of model '{job.model}' "
            f"(its columns: {', '.join(columns)})"
        )
    if "gsid" in columns:
        raise DestinationError(
            f"model '{job.model}' has a column 'gsid': the destination's gsid is derived from "
            "the key, so rename that column"
        )
    for column, data_type in columns.items():
        if is_gsid_column(column) and data_type.upper() != "VARCHAR":
            raise DestinationError(
                f"column '{column}' of model '{job.model}' is {data_type}: a GSID column "
                "(named *_gsid) must be declared data_type: varchar"
            )


def _check_errors_model(connection: duckdb.DuckDBPyConnection, errors_model: str) -> None:
    columns = _columns(connection, MODELS_SCHEMA, errors_model)
    missing = [column for column in ERROR_RECORD_COLUMNS if column not in columns]
    if not columns or missing:
        raise DestinationError(
            f"errors model '{errors_model}' must be built in schema {MODELS_SCHEMA} with "
            f"columns {', '.join(ERROR_RECORD_COLUMNS)}"
            + (f" (missing: {', '.join(missing)})" if columns else "")
        )


def _check_output_rows(connection: duckdb.DuckDBPyConnection, job: JobSpec) -> None:
    output = _relation(MODELS_SCHEMA, job.model)
    key = job.destination.key
    key_list = ", ".join(_quote(column) for column in key)
    null_keys = " or ".join(f"{_quote(column)} is null" for column in key)
    nulls = connection.execute(f"select count(*) from {output} where {null_keys}").fetchone()[0]
    if nulls:
        raise DestinationError(
            f"model '{job.model}' returns {nulls} rows with a null key ({', '.join(key)}); "
            "filter them out or fix the mapping"
        )
    repeated = connection.execute(
        f"select count(*) from (select {key_list} from {output} "
        f"group by {key_list} having count(*) > 1) as repeated_keys"
    ).fetchone()[0]
    if repeated:
        raise DestinationError(
            f"model '{job.model}' returns {repeated} keys ({', '.join(key)}) more than once; "
            "the key must identify one row"
        )
    if job.destination.kind == "company":
        unknown = connection.execute(
            f"select count(*) from {output} as output where not exists "
            f"(select 1 from {COMPANY_RELATION} as company "
            f"where company.gsid = output.{_quote(COMPANY_KEY)})"
        ).fetchone()[0]
        if unknown:
            raise DestinationError(
                f"model '{job.model}' returns {unknown} rows whose {COMPANY_KEY} is not in "
                f"{COMPANY_RELATION}; map companies with derived_lookup"
            )


def _create_or_extend(
    connection: duckdb.DuckDBPyConnection, object_name: str, columns: dict[str, str]
) -> None:
    """Created on the first run with the model's declared types; later runs add new columns."""
    existing = _columns(connection, DESTINATION_SCHEMA, object_name)
    target = _relation(DESTINATION_SCHEMA, object_name)
    if not existing:
        definitions = ", ".join(
            f"{_quote(column)} {data_type}" for column, data_type in columns.items()
        )
        connection.execute(f"create schema if not exists {_quote(DESTINATION_SCHEMA)}")
        connection.execute(f"create table {target} (gsid varchar, {definitions})")
        return
    for column, data_type in columns.items():
        if column not in existing:
            connection.execute(f"alter table {target} add column {_quote(column)} {data_type}")


def _first_line(value: object) -> str:
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    return lines[0] if lines else str(value)


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
