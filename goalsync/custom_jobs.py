"""Custom jobs: write a job's dbt output into its Gainsight-side object (scaffold: scaffold.py).

A custom job is a dbt model in `dbt_project/models/custom/` (plus an errors model) and an
entry in `jobs.yml`. dbt computes the rows in schema `custom_staging`; `apply_destination`
then inserts, updates or upserts them into `gainsight.<object>` by the job's key. Rows of
the object that are not in the output are left alone, as in Gainsight.
"""

import hashlib
from pathlib import Path

import duckdb

from .jobs_config import JobsConfig, JobSpec
from .paths import PROJECT_ROOT

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
