"""Read-only views for people: job list, run history, error records, previews."""

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from extract.ecosystems import EcosystemsAPIError, EcosystemsClient

from .connection import Connection
from .dbt import show_model
from .errors import ConfigError
from .jobs_config import JobsConfig, JobSpec
from .warehouses import connect, exists, table_exists

ERROR_CSV_FIELDS = ("run_id", "job_name", "object_name", "record_key", "reason")


@dataclass
class View:
    title: str
    columns: list[str]
    rows: list[tuple] = field(default_factory=list)
    empty_message: str = "Nothing to show."


def _has_activity(database: Path) -> bool:
    if not exists(database):
        return False
    with connect(database, must_exist=True) as connection:
        return table_exists(connection, "activity", "job_runs")


def job_list(database: Path, config: JobsConfig) -> View:
    """Like Gainsight's job list: each job's last run, schedule type and next run."""
    from .scheduler import Scheduler

    scheduler = Scheduler(config, lambda *_: None)
    last_runs: dict[str, tuple] = {}
    if _has_activity(database):
        with connect(database, must_exist=True) as connection:
            for job_name, status, started_at in connection.execute(
                """select job_name, status, started_at from activity.job_runs
                   where run_id in (select max(run_id) from activity.job_runs group by job_name)"""
            ).fetchall():
                last_runs[job_name] = (status, started_at)
    view = View(
        "Jobs (times in UTC)", ["job", "last run status", "last run on", "schedule", "next run"]
    )
    for name in config.jobs:
        status, started_at = last_runs.get(name, ("never run", None))
        next_run = scheduler.next_run(name)
        view.rows.append(
            (
                name,
                status,
                _when(started_at),
                scheduler.schedule_type(name),
                _when(next_run),
            )
        )
    return view


def _when(moment: Any) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(started_at: Any, finished_at: Any) -> float | None:
    if started_at is None or finished_at is None:
        return None
    return round((finished_at - started_at).total_seconds(), 1)


def job_history(database: Path, job_name: str, limit: int = 20) -> View:
    view = View(
        f"Runs of {job_name}",
        [
            "run",
            "status",
            "trigger",
            "chain",
            "started",
            "seconds",
            "read",
            "ins",
            "upd",
            "del",
            "failed",
            "message",
        ],
        empty_message=f"'{job_name}' has not run yet.",
    )
    if not _has_activity(database):
        return view
    with connect(database, must_exist=True) as connection:
        rows = connection.execute(
            """select run_id, status, trigger, chain_name, started_at, finished_at,
                      rows_read, rows_inserted, rows_updated, rows_deleted, rows_failed, message
               from activity.job_runs where job_name = ? order by run_id desc limit ?""",
            [job_name, limit],
        ).fetchall()
    view.rows = [(*row[:4], _when(row[4]), _seconds(row[4], row[5]), *row[6:]) for row in rows]
    return view


def _error_rows(database: Path, run_id: int) -> list[tuple]:
    if not _has_activity(database):
        raise ConfigError(f"there is no run {run_id}: no job has run yet in {database}")
    with connect(database, must_exist=True) as connection:
        known = connection.execute(
            "select count(*) from activity.job_runs where run_id = ?", [run_id]
        ).fetchone()[0]
        if not known:
            raise ConfigError(f"there is no run {run_id}: see `uv run orchestrate.py activity`")
        return connection.execute(
            """select run_id, job_name, object_name, record_key, reason, record
               from activity.error_records where run_id = ? order by record_key""",
            [run_id],
        ).fetchall()


def error_records(database: Path, run_id: int, limit: int = 50) -> View:
    rows = _error_rows(database, run_id)
    return View(
        f"Error records of run {run_id} ({len(rows)})",
        ["record_key", "reason", "object", "record"],
        [(r[3], r[4], r[2], _short(r[5])) for r in rows[:limit]],
        empty_message=f"Run {run_id} has no error records.",
    )


def _short(value: object, width: int = 80) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def export_error_records(database: Path, run_id: int, csv_path: str) -> int:
    """Write a run's error records to CSV: the source record's fields, then the reason."""
    rows = _error_rows(database, run_id)
    records = [orjson.loads(row[5]) if row[5] else {} for row in rows]
    record_fields: list[str] = []
    for record in records:
        for key in record:
            if key not in record_fields and key not in ERROR_CSV_FIELDS:
                record_fields.append(key)
    try:
        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([*ERROR_CSV_FIELDS, *record_fields])
            for row, record in zip(rows, records, strict=True):
                values = [_csv_value(record.get(key)) for key in record_fields]
                writer.writerow([*row[:5], *values])
    except OSError as error:
        raise ConfigError(f"cannot write {csv_path}: {error.strerror}") from None
    return len(rows)


def _csv_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return "" if value is None else value


def preview_object(source: Connection, endpoint: str, limit: int) -> View:
    """The first records the API serves for an object, fetched live; nothing is written."""
    client = EcosystemsClient(source.base_url, source.access_token, max_attempts=2)
    try:
        records = next(iter(client.iter_pages(endpoint, {"limit": max(1, min(limit, 1000))})), [])
    except EcosystemsAPIError as error:
        raise ConfigError(f"preview of {endpoint} failed: {error}") from None
    columns: list[str] = []
    for record in records:
        columns.extend(key for key in record if key not in columns)
    rows = [tuple(_short(_csv_value(r.get(c)), 40) for c in columns) for r in records[:limit]]
    return View(f"Preview of {endpoint} ({len(rows)} records)", columns, rows)


def preview_job(database: Path, job: JobSpec, limit: int) -> View:
    """Sample output rows of a job, computed by dbt from the current data; nothing is written."""
    columns, rows = show_model(job.model, limit, database)
    return View(
        f"Preview of {job.name} ({job.model}, {len(rows)} rows)",
        columns,
        [tuple(_short(_csv_value(v), 40) for v in row) for row in rows],
        empty_message=f"{job.name} would produce no rows from the current data.",
    )
