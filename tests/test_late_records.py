"""Records committed late (visible after a run whose cursor passed them): the lookback window
reads them in the next run; records read again unchanged cost nothing. Sandbox on loopback,
real DuckDB file, real dbt, through the CLI functions."""

from pathlib import Path

import pytest
from faults_support import SCALE, goals_by_key, query, run_environment

from extract.sandbox import SandboxServer
from goalsync import cli
from goalsync.build_state import source_watermark
from goalsync.warehouses import connect


@pytest.fixture
def synced(tmp_path, monkeypatch):
    """A sandbox and a database after one CS Goal Sync run."""
    database = tmp_path / "goalsync.duckdb"
    with SandboxServer(SCALE) as sandbox:
        for name, value in run_environment(database, sandbox.base_url, sandbox.token).items():
            monkeypatch.setenv(name, value)
        assert cli.main([]) == cli.EXIT_OK
        yield sandbox, database


def last_run(database: Path) -> tuple:
    return query(
        database,
        "select status, rows_inserted, rows_updated, rows_deleted, message "
        "from activity.job_runs order by run_id desc limit 1",
    )[0]


def watermark(database: Path) -> str | None:
    with connect(database) as connection:
        return source_watermark(connection)


def a_kpi_goal(database: Path) -> str:
    return query(database, "select min(kpi_id) from gainsight.customer_goals")[0][0]


def test_a_kpi_committed_late_inside_the_window_reaches_its_goal_in_the_next_run(synced):
    sandbox, database = synced
    goal_key = a_kpi_goal(database)
    sandbox.commit_late("kpis", goal_key, {"target": 4242.5}, seconds_late=120)

    assert cli.main(["run"]) == cli.EXIT_OK

    status, inserted, updated, deleted, _ = last_run(database)
    assert (inserted, updated, deleted) == (0, 1, 0)
    goal = query(
        database, "select kpi_target from gainsight.customer_goals where goal_key = ?", [goal_key]
    )
    assert goal == [(4242.5,)]


def test_a_rerun_that_only_reads_the_window_again_changes_nothing_and_skips_dbt(synced):
    sandbox, database = synced
    before, loads = goals_by_key(database), watermark(database)

    assert cli.main(["run"]) == cli.EXIT_OK

    status, inserted, updated, deleted, message = last_run(database)
    assert (inserted, updated, deleted) == (0, 0, 0)
    assert "dbt build skipped" in message
    assert watermark(database) == loads  # no raw row written
    assert goals_by_key(database) == before


def test_a_record_committed_later_than_the_window_is_out_of_reach(synced):
    sandbox, database = synced
    goal_key = a_kpi_goal(database)
    before = goals_by_key(database)[goal_key]
    sandbox.commit_late("kpis", goal_key, {"target": 4242.5}, seconds_late=301)

    assert cli.main(["run"]) == cli.EXIT_OK

    assert goals_by_key(database)[goal_key] == before
