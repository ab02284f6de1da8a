"""End to end: sandbox API → dlt → dbt → activity, through the CLI functions, on a real file."""

import csv
import shutil
from pathlib import Path

import pytest
from faults_support import goals_by_key, query

from extract.sandbox import SandboxServer
from goalsync import cli


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    """The folder of a first `orchestrate.py` run into a fresh database."""
    folder = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as patch, SandboxServer() as server:
        use_run_settings(patch, server, folder / "goalsync.duckdb")
        assert cli.main([]) == cli.EXIT_OK
    return folder


def use_run_settings(patch: pytest.MonkeyPatch, sandbox: SandboxServer, database: Path) -> None:
    patch.setenv("GOALSYNC_DUCKDB_PATH", str(database))
    patch.setenv("SOURCES__ECOSYSTEMS__ACCESS_TOKEN", sandbox.token)
    patch.setenv("SOURCES__ECOSYSTEMS__BASE_URL", sandbox.base_url)


@pytest.fixture
def sandbox():
    """A sandbox with the same data as the first run's."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def database(first_run, tmp_path) -> Path:
    """This test's copy of the first run's database (and dlt's folder beside it)."""
    shutil.copytree(first_run, tmp_path / "e2e")
    return tmp_path / "e2e" / "goalsync.duckdb"


@pytest.fixture(autouse=True)
def environment(monkeypatch, sandbox, database):
    use_run_settings(monkeypatch, sandbox, database)


def last_run(database: Path) -> dict:
    columns = [
        "run_id",
        "job_name",
        "chain_name",
        "trigger",
        "status",
        "rows_read",
        "rows_inserted",
        "rows_updated",
        "rows_deleted",
        "rows_failed",
        "message",
    ]
    row = query(
        database, f"select {', '.join(columns)} from activity.job_runs order by run_id desc limit 1"
    )[0]
    return dict(zip(columns, row, strict=True))


def expected_changes(before: dict[str, tuple], after: dict[str, tuple]) -> tuple[int, int, int]:
    """Inserted, updated, deleted keys, comparing every column but gsid (index 0)."""
    inserted = len(after.keys() - before.keys())
    deleted = len(before.keys() - after.keys())
    updated = sum(1 for key in before.keys() & after.keys() if before[key][1:] != after[key][1:])
    return inserted, updated, deleted


def test_first_run_loads_goals_and_records_rejections(database):
    run = last_run(database)
    goals = goals_by_key(database)
    rejected = query(database, "select count(*) from gainsight.customer_goals_errors")[0][0]
    assert run["status"] == "Partial Success"  # the sandbox has an account missing in company.csv
    assert run["chain_name"] == "CS Goal Sync" and run["trigger"] == "manual"
    assert run["rows_inserted"] == len(goals) > 0
    assert run["rows_updated"] == run["rows_deleted"] == 0
    assert run["rows_failed"] == rejected > 0
    assert run["rows_read"] > len(goals)
    updates = query(
        database, "select * from activity.object_updates where run_id = ?", [run["run_id"]]
    )
    assert updates == [(run["run_id"], "customer_goals", len(goals), 0, 0, rejected)]
    reasons = query(
        database,
        "select distinct reason, object_name from activity.error_records where run_id = ?",
        [run["run_id"]],
    )
    assert reasons == [("company_not_found", "customer_goals")]


def test_unchanged_rerun_updates_nothing_and_reports_rejections_again(database):
    before = goals_by_key(database)
    assert cli.main(["run"]) == cli.EXIT_OK
    run = last_run(database)
    assert (run["rows_inserted"], run["rows_updated"], run["rows_deleted"]) == (0, 0, 0)
    assert (
        run["rows_failed"]
        == query(
            database,
            "select count(*) from activity.error_records where run_id = ?",
            [run["run_id"]],
        )[0][0]
        > 0
    )
    assert goals_by_key(database) == before  # gsids stable too


def test_rerun_after_updates_and_deletes_counts_real_changes(database, sandbox):
    before = goals_by_key(database)
    sandbox.mutate()
    assert cli.main(["run", "--chain", "CS Goal Sync"]) == cli.EXIT_OK
    after = goals_by_key(database)
    run = last_run(database)
    counts = (run["rows_inserted"], run["rows_updated"], run["rows_deleted"])
    assert counts == expected_changes(before, after)
    assert run["rows_updated"] > 0 and run["rows_deleted"] > 0
    assert len(after) == len(set(after))


def test_wrong_token_fails_and_keeps_goals_and_raw_data(database, monkeypatch):
    goals = goals_by_key(database)
    raw = query(database, "select id, updated_at from ecosystems_raw.kpis order by id")
    state = query(database, "select count(*) from ecosystems_raw._dlt_pipeline_state")
    monkeypatch.setenv("SOURCES__ECOSYSTEMS__ACCESS_TOKEN", "tok_wrong_E2E_123456")
    assert cli.main(["run"]) == cli.EXIT_FAILED
    run = last_run(database)
    assert run["status"] == "Failed"
    assert "access token" in run["message"] and "tok_wrong" not in run["message"]
    assert goals_by_key(database) == goals
    assert query(database, "select id, updated_at from ecosystems_raw.kpis order by id") == raw
    assert query(database, "select count(*) from ecosystems_raw._dlt_pipeline_state") == state


def test_error_export_and_views(database, tmp_path, capsys):
    run_id = query(
        database, "select max(run_id) from activity.job_runs where status = 'Partial Success'"
    )[0][0]
    target = tmp_path / "errors.csv"
    assert cli.main(["errors", "--run", str(run_id), "--csv", str(target)]) == cli.EXIT_OK
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    keys = query(
        database,
        "select record_key from activity.error_records where run_id = ? order by 1",
        [run_id],
    )
    assert sorted(row["record_key"] for row in rows) == [k[0] for k in keys]
    assert {row["reason"] for row in rows} == {"company_not_found"}
    assert all(row["document_id"] for row in rows)  # the source record's own fields
    assert cli.main(["errors", "--run", "999999"]) == cli.EXIT_USAGE
    assert cli.main(["activity"]) == cli.EXIT_OK
    assert "CS Goal Sync" in capsys.readouterr().out
    assert cli.main(["preview", "--job", "CS Goal Sync", "--limit", "3"]) == cli.EXIT_OK
    assert "goal_key" in capsys.readouterr().out


def test_rebuild_in_a_fresh_database_gives_the_same_goals(database, tmp_path, monkeypatch):
    current = goals_by_key(database)
    fresh = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(fresh))
    assert cli.main(["run"]) == cli.EXIT_OK
    assert goals_by_key(fresh) == current
