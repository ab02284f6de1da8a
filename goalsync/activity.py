"""The activity log in schema `activity`: job runs, per-object counts and error records."""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from .clock import stored_instant, utc_now
from .warehouses import Session, table_exists

ACTIVITY_DDL = (
    "create schema if not exists activity",
    """create table if not exists activity.job_runs (
        run_id bigint, job_name varchar, chain_name varchar, trigger varchar, status varchar,
        started_at timestamp, finished_at timestamp, rows_read bigint, rows_inserted bigint,
        rows_updated bigint, rows_deleted bigint, rows_failed bigint, message varchar)""",
    """create table if not exists activity.object_updates (
        run_id bigint, object_name varchar, rows_inserted bigint, rows_updated bigint,
        rows_deleted bigint, rows_failed bigint)""",
    # error records: each distinct record stored once, however many runs reject it again
    """create table if not exists activity.error_record_contents (
        record_hash varchar, record json)""",
    """create table if not exists activity.run_error_records (
        run_id bigint, job_name varchar, object_name varchar, record_key varchar,
        reason varchar, record_hash varchar)""",
    """create table if not exists activity.run_stages (
        run_id bigint, stage varchar, started_at timestamp, finished_at timestamp,
        seconds double precision, detail varchar)""",
    """create table if not exists activity.notifications (
        run_id bigint, event varchar, recipients varchar, delivery varchar)""",
    # per job, what its last successful dbt build read (see build_state.py)
    """create table if not exists activity.build_state (
        job_name varchar primary key, source_watermark varchar, inputs_fingerprint varchar,
        built_at timestamp, run_id bigint)""",
)

# created once: replacing it on every start would write the catalog on every run
ERROR_RECORDS_VIEW = """create view activity.error_records as
    select runs.run_id, runs.job_name, runs.object_name, runs.record_key, runs.reason,
           contents.record
    from activity.run_error_records as runs
    left join activity.error_record_contents as contents
        on contents.record_hash = runs.record_hash"""

INTERRUPTED = "interrupted: the process running it stopped before it finished"


@dataclass
class ObjectCounts:
    object_name: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0


@dataclass
class RunOutcome:
    status: str
    message: str = ""
    rows_read: int = 0
    objects: list[ObjectCounts] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(counts, attribute) for counts in self.objects)


def ensure_activity_tables(connection: Session) -> None:
    for statement in ACTIVITY_DDL:
        connection.execute(statement)
    if table_exists(connection, "activity", "error_records", views_too=False):
        _split_error_records_table(connection)
    elif not table_exists(connection, "activity", "error_records"):
        connection.execute(ERROR_RECORDS_VIEW)


def _split_error_records_table(connection: Session) -> None:
    """A database from before error_records became a view: its rows move, in one transaction."""
    connection.execute("begin transaction")
    try:
        _insert_error_records(connection, "select * from activity.error_records")
        connection.execute("drop table activity.error_records")
        connection.execute(ERROR_RECORDS_VIEW)
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise


def copy_error_records(
    connection: Session,
    run_id: int,
    job_name: str,
    object_name: str,
    relation: str,
) -> int:
    """Error records of a run from a model's rows (record_key, reason, record); returns how many."""
    return _insert_error_records(
        connection,
        "select ? as run_id, ? as job_name, ? as object_name, record_key, reason, record "
        f"from {relation}",
        [run_id, job_name, object_name],
    )


def _insert_error_records(
    connection: Session, rows_sql: str, parameters: Sequence[Any] = ()
) -> int:
    """Insert the rows of `rows_sql` (the columns of activity.error_records); returns how many.

    A record a previous run stored already is not stored again: at a million goals the
    rejected ones of every run would otherwise add tens of megabytes each time.
    """
    connection.execute("drop table if exists new_error_records")
    connection.execute(
        "create temp table new_error_records as select *, "
        f"md5(cast(record as varchar)) as record_hash from ({rows_sql}) as rows",
        list(parameters),
    )
    connection.execute(
        """insert into activity.error_record_contents
           select distinct on (record_hash) record_hash, record
           from new_error_records as new
           where record_hash is not null
             and not exists (
                 select 1 from activity.error_record_contents as stored
                 where stored.record_hash = new.record_hash
             )"""
    )
    connection.execute(
        """insert into activity.run_error_records
           select run_id, job_name, object_name, record_key, reason, record_hash
           from new_error_records"""
    )
    inserted = connection.execute("select count(*) from new_error_records").fetchone()[0]
    connection.execute("drop table new_error_records")
    return inserted


def close_interrupted_runs(connection: Session) -> int:
    """Runs left `Running` by a killed process become `Failed` (interrupted)."""
    stale = connection.execute(
        "select count(*) from activity.job_runs where status = 'Running'"
    ).fetchone()[0]
    connection.execute(
        "update activity.job_runs set status = 'Failed', finished_at = ?, message = ? "
        "where status = 'Running'",
        [stored_instant(utc_now()), INTERRUPTED],
    )
    return stale


def start_run(
    connection: Session,
    job_name: str,
    chain_name: str | None,
    trigger: str,
    status: str = "Running",
    message: str = "",
) -> int:
    """Insert the run's row the moment it starts; returns its run_id."""
    run_id = connection.execute(
        "select coalesce(max(run_id), 0) + 1 from activity.job_runs"
    ).fetchone()[0]
    now = stored_instant(utc_now())
    finished = now if status != "Running" else None
    connection.execute(
        "insert into activity.job_runs values (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?)",
        [run_id, job_name, chain_name, trigger, status, now, finished, message],
    )
    return run_id


def finish_run(connection: Session, run_id: int, outcome: RunOutcome) -> None:
    """Record the final status, the counts per object and the run's totals."""
    for counts in outcome.objects:
        connection.execute(
            "insert into activity.object_updates values (?, ?, ?, ?, ?, ?)",
            [
                run_id,
                counts.object_name,
                counts.inserted,
                counts.updated,
                counts.deleted,
                counts.failed,
            ],
        )
    connection.execute(
        """update activity.job_runs set status = ?, finished_at = ?, rows_read = ?,
           rows_inserted = ?, rows_updated = ?, rows_deleted = ?, rows_failed = ?, message = ?
           where run_id = ?""",
        [
            outcome.status,
            stored_instant(utc_now()),
            outcome.rows_read,
            outcome.total("inserted"),
            outcome.total("updated"),
            outcome.total("deleted"),
            outcome.total("failed"),
            outcome.message,
            run_id,
        ],
    )


class SourceProblem(Protocol):
    """A source record that was not loaded exactly as received (see the extraction)."""

    object_name: str
    record_key: str | None
    reason: str
    record: Any


def record_source_problems(
    connection: Session,
    run_id: int,
    job_name: str,
    problems: Sequence[SourceProblem],
) -> int:
    """Error records for source records this run read but could not load as received.

    Their object_name is the raw object (`documents`, `value_drivers`, `kpis`); returns how many.
    """
    if not problems:
        return 0
    connection.execute("drop table if exists source_problems")
    connection.execute(
        "create temp table source_problems (run_id bigint, job_name varchar, "
        "object_name varchar, record_key varchar, reason varchar, record json)"
    )
    connection.executemany(
        "insert into source_problems values (?, ?, ?, ?, ?, ?)",
        [
            (run_id, job_name, p.object_name, p.record_key, p.reason, _as_json(p.record))
            for p in problems
        ],
    )
    inserted = _insert_error_records(connection, "select * from source_problems")
    connection.execute("drop table source_problems")
    return inserted


def _as_json(record: Any) -> str:
    """The record as JSON; numbers no JSON reader keeps (1e400, 2**70) become their text."""
    try:
        return orjson.dumps(record).decode()
    except TypeError:
        return json.dumps(_plain(record), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return str(value)
    return value


def record_stage(
    connection: Session,
    run_id: int,
    stage: str,
    started_at: datetime,
    finished_at: datetime,
    detail: str = "",
) -> None:
    seconds = (finished_at - started_at).total_seconds()
    connection.execute(
        "insert into activity.run_stages values (?, ?, ?, ?, ?, ?)",
        [run_id, stage, stored_instant(started_at), stored_instant(finished_at), seconds, detail],
    )


def record_notification(
    connection: Session, run_id: int, event: str, recipients: tuple[str, ...]
) -> None:
    """Recipients are recorded; mail is sent only where an SMTP host is configured."""
    if recipients:
        connection.execute(
            "insert into activity.notifications values (?, ?, ?, 'recorded')",
            [run_id, event, ", ".join(recipients)],
        )
