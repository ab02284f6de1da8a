"""activity.error_records: one row per rejected record and run, each record stored once."""

from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from goalsync import activity

OLD_ROWS = [
    (1, "CS Goal Sync", "customer_goals", "kpi_1", "company_not_found", '{"goal_key":"kpi_1"}'),
    (1, "CS Goal Sync", "customer_goals", "kpi_2", "company_ambiguous", '{"goal_key":"kpi_2"}'),
    (2, "CS Goal Sync", "customer_goals", "kpi_1", "company_not_found", '{"goal_key":"kpi_1"}'),
    (2, "CS Goal Sync", "kpis", None, "missing_id: no id", None),
]


@dataclass
class Problem:
    object_name: str
    record_key: str | None
    reason: str
    record: Any


@pytest.fixture
def connection(tmp_path):
    with duckdb.connect(str(tmp_path / "goalsync.duckdb")) as connection:
        yield connection


def error_records(connection, run_id: int | None = None) -> list[tuple]:
    where = "" if run_id is None else f"where run_id = {run_id}"
    return connection.execute(
        f"select * from activity.error_records {where} order by run_id, object_name, record_key"
    ).fetchall()


def stored_records(connection) -> int:
    return connection.execute("select count(*) from activity.error_record_contents").fetchone()[0]


def test_a_rejected_record_is_stored_once_however_many_runs_reject_it(connection):
    activity.ensure_activity_tables(connection)
    connection.execute(
        "create table rejected as select * from (values "
        """('kpi_1', 'company_not_found', '{"goal_key":"kpi_1"}'::json), """
        """('kpi_2', 'company_ambiguous', '{"goal_key":"kpi_2"}'::json)) """
        "as rows(record_key, reason, record)"
    )
    for run_id in (1, 2, 3):
        copied = activity.copy_error_records(
            connection, run_id, "CS Goal Sync", "customer_goals", "rejected"
        )
        assert copied == 2
    assert stored_records(connection) == 2
    assert error_records(connection, 3) == [
        (3, "CS Goal Sync", "customer_goals", "kpi_1", "company_not_found", '{"goal_key":"kpi_1"}'),
        (3, "CS Goal Sync", "customer_goals", "kpi_2", "company_ambiguous", '{"goal_key":"kpi_2"}'),
    ]
    assert len(error_records(connection)) == 6


def test_source_problems_become_error_records_with_their_record_as_json(connection):
    activity.ensure_activity_tables(connection)
    problems = [
        Problem("kpis", "kpi_9", "invalid_number: baseline", {"id": "kpi_9", "baseline": "x"}),
        Problem("kpis", None, "missing_id: no id", {"name": "no id"}),
        Problem("kpis", "kpi_8", "number_out_of_range: target", {"id": "kpi_8", "t": 2**70}),
    ]
    assert activity.record_source_problems(connection, 7, "CS Goal Sync", problems) == 3
    assert error_records(connection, 7) == [
        (7, "CS Goal Sync", "kpis", "kpi_8", "number_out_of_range: target",
         '{"id": "kpi_8", "t": "1180591620717411303424"}'),
        (7, "CS Goal Sync", "kpis", "kpi_9", "invalid_number: baseline",
         '{"id":"kpi_9","baseline":"x"}'),
        (7, "CS Goal Sync", "kpis", None, "missing_id: no id", '{"name":"no id"}'),
    ]  # fmt: skip


def test_a_database_with_the_old_error_records_table_keeps_every_row(connection):
    connection.execute("create schema activity")
    connection.execute(
        "create table activity.error_records (run_id bigint, job_name varchar, "
        "object_name varchar, record_key varchar, reason varchar, record json)"
    )
    connection.executemany("insert into activity.error_records values (?, ?, ?, ?, ?, ?)", OLD_ROWS)
    activity.ensure_activity_tables(connection)
    table_type = connection.execute(
        "select table_type from information_schema.tables "
        "where table_schema = 'activity' and table_name = 'error_records'"
    ).fetchall()
    assert table_type == [("VIEW",)]
    assert sorted(error_records(connection), key=str) == sorted(OLD_ROWS, key=str)
    assert stored_records(connection) == 2
    activity.ensure_activity_tables(connection)  # again: nothing moves twice
    assert len(error_records(connection)) == len(OLD_ROWS)
