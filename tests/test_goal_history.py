"""Goal history and lineage: customer_goal_actuals, the customer_goals_history snapshot, the
lineage view and `explain --goal`. Sandbox on loopback, real DuckDB file, real dbt, through
the CLI functions."""

import json

import duckdb
import pytest
import yaml
from faults_support import SCALE, query, run_environment
from test_dbt_models import FIRST_LOAD, FIRST_STATE, OOB_JOB_SELECTION, DbtWorkspace

from extract.sandbox import SandboxServer
from goalsync import cli
from goalsync.paths import DBT_PROJECT_DIR

MARTS = DBT_PROJECT_DIR / "models" / "marts" / "cs_goal_sync"
HISTORY_YML = DBT_PROJECT_DIR / "snapshots" / "customer_goals_history.yml"

ACTUALS_COLUMNS = [
    ("goal_key", "VARCHAR"),
    ("kpi_id", "VARCHAR"),
    ("actual_position", "INTEGER"),
    ("measured_on", "VARCHAR"),
    ("measured_at", "TIMESTAMP WITH TIME ZONE"),
    ("value", "DOUBLE"),
    ("is_latest", "BOOLEAN"),
]


@pytest.fixture
def synced(tmp_path, monkeypatch):
    """A sandbox and a database after one CS Goal Sync run."""
    database = tmp_path / "goalsync.duckdb"
    with SandboxServer(SCALE) as sandbox:
        for name, value in run_environment(database, sandbox.base_url, sandbox.token).items():
            monkeypatch.setenv(name, value)
        assert cli.main([]) == cli.EXIT_OK
        yield sandbox, database


def test_a_run_builds_the_actuals_of_every_kpi_goal_and_marks_the_one_kpi_actuals_uses(synced):
    _, database = synced
    columns = query(
        database,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'gainsight' and table_name = 'customer_goal_actuals' "
        "order by ordinal_position",
    )
    assert columns == ACTUALS_COLUMNS

    per_goal = query(
        database,
        """select goals.goal_key, len(from_json(kpis.actuals, '["json"]')),
                  count(actuals.goal_key), count(*) filter (where actuals.is_latest),
                  any_value(actuals.value) filter (where actuals.is_latest), goals.kpi_actuals,
                  list(actuals.actual_position order by actuals.actual_position)
           from gainsight.customer_goals as goals
           join ecosystems_raw.kpis as kpis on kpis.id = goals.kpi_id
           left join gainsight.customer_goal_actuals as actuals using (goal_key)
           where goals.kpi_id is not null
           group by all""",
    )
    assert per_goal
    for goal_key, received, rows, latest, latest_value, kpi_actuals, positions in per_goal:
        assert rows == (received or 0), goal_key
        assert positions == (list(range(1, rows + 1)) if rows else [None]), goal_key
        assert latest <= 1, goal_key
        assert latest_value == kpi_actuals, goal_key
    assert sum(row[3] for row in per_goal) > 0
    # goals of value drivers without KPIs and rejected goals have no actuals
    strays = query(
        database,
        """select count(*) from gainsight.customer_goal_actuals
           where goal_key not in (select kpi_id from gainsight.customer_goals
                                  where kpi_id is not null)""",
    )
    assert strays == [(0,)]


def last_run_id(database) -> int:
    return query(database, "select max(run_id) from activity.job_runs")[0][0]


def versions(database, goal_key: str) -> list[tuple]:
    """(kpi_target, run, is current) of each version of a goal, oldest first."""
    return query(
        database,
        """select kpi_target, goalsync_run_id, dbt_valid_to is null
           from gainsight.customer_goals_history where goal_key = ?
           order by dbt_valid_from""",
        [goal_key],
    )


def a_kpi_goal(database) -> tuple[str, float]:
    return query(
        database,
        "select kpi_id, kpi_target from gainsight.customer_goals "
        "where kpi_id is not null and kpi_target is not null order by kpi_id limit 1",
    )[0]


def history_rows(database) -> int:
    return query(database, "select count(*) from gainsight.customer_goals_history")[0][0]


def test_history_versions_an_update_closes_a_delete_and_opens_a_recreation(synced, capsys):
    sandbox, database = synced
    first = last_run_id(database)
    goal_key, target = a_kpi_goal(database)
    goals = query(database, "select count(*) from gainsight.customer_goals")[0][0]
    assert history_rows(database) == goals
    assert versions(database, goal_key) == [(target, first, True)]

    sandbox.commit_late("kpis", goal_key, {"target": 4242.5}, seconds_late=0)
    assert cli.main(["run"]) == cli.EXIT_OK
    updated = last_run_id(database)
    assert versions(database, goal_key) == [(target, first, False), (4242.5, updated, True)]
    assert history_rows(database) == goals + 1

    sandbox.commit_late("kpis", goal_key, {"deleted_at": "2026-10-02T09:00:00Z"}, seconds_late=0)
    assert cli.main(["run"]) == cli.EXIT_OK
    assert versions(database, goal_key) == [(target, first, False), (4242.5, updated, False)]
    assert history_rows(database) == goals + 1
    capsys.readouterr()
    assert cli.main(["explain", "--goal", goal_key]) == cli.EXIT_OK  # gone, but it has a past
    explained = capsys.readouterr().out
    assert f"Goal {goal_key} is not in gainsight.customer_goals now" in explained
    assert "removed (no longer a live goal)" in explained

    sandbox.commit_late("kpis", goal_key, {"deleted_at": None, "target": 99.5}, seconds_late=0)
    assert cli.main(["run"]) == cli.EXIT_OK
    recreated = last_run_id(database)
    assert versions(database, goal_key) == [
        (target, first, False),
        (4242.5, updated, False),
        (99.5, recreated, True),
    ]
    # "what was this goal's target then" is one query: the version valid at that instant
    closed_at = query(
        database,
        "select dbt_valid_to from gainsight.customer_goals_history "
        "where goal_key = ? and goalsync_run_id = ?",
        [goal_key, first],
    )[0][0]
    target_then = query(
        database,
        """select kpi_target from gainsight.customer_goals_history
           where goal_key = ? and dbt_valid_from <= ?::timestamp - interval 1 microsecond
             and (dbt_valid_to is null or dbt_valid_to > ?::timestamp - interval 1 microsecond)""",
        [goal_key, closed_at, closed_at],
    )
    assert target_then == [(target,)]


def test_a_run_that_changes_no_goal_adds_no_history(synced):
    sandbox, database = synced
    before = query(database, "select * from gainsight.customer_goals_history order by all")
    goal_key, _ = a_kpi_goal(database)
    # a field no goal column maps: the build runs and writes the same goals
    sandbox.commit_late("kpis", goal_key, {"unit": "EUR"}, seconds_late=0)
    assert cli.main(["run"]) == cli.EXIT_OK
    build = query(
        database,
        "select detail from activity.run_stages where run_id = ? and stage = 'transform'",
        [last_run_id(database)],
    )
    assert build == [("",)]  # built, not skipped
    assert cli.main(["run"]) == cli.EXIT_OK  # skipped: nothing new
    after = query(database, "select * from gainsight.customer_goals_history order by all")
    assert after == before


def test_lineage_follows_a_changed_kpi_to_its_new_load_and_run(synced):
    sandbox, database = synced
    goal_key, _ = a_kpi_goal(database)
    lineage_sql = """select document_id, document_load_id, value_driver_id,
                            value_driver_load_id, kpi_id, kpi_load_id, run_id
                     from gainsight.customer_goals_lineage where goal_key = ?"""
    raw_load = "select _dlt_load_id from ecosystems_raw.{} where id = ?"
    (document_id, document_load, driver_id, driver_load, kpi_id, kpi_load, run_id) = query(
        database, lineage_sql, [goal_key]
    )[0]
    assert kpi_id == goal_key
    assert query(database, raw_load.format("kpis"), [kpi_id]) == [(kpi_load,)]
    assert query(database, raw_load.format("value_drivers"), [driver_id]) == [(driver_load,)]
    assert query(database, raw_load.format("documents"), [document_id]) == [(document_load,)]
    assert run_id == last_run_id(database)
    first = run_id

    sandbox.commit_late("kpis", goal_key, {"target": 777.25}, seconds_late=0)
    assert cli.main(["run"]) == cli.EXIT_OK
    second = last_run_id(database)
    moved = query(database, lineage_sql, [goal_key])[0]
    new_kpi_load = query(database, raw_load.format("kpis"), [kpi_id])[0][0]
    assert new_kpi_load > kpi_load
    assert moved == (
        document_id,
        document_load,
        driver_id,
        driver_load,
        kpi_id,
        new_kpi_load,
        second,
    )
    # goals the run did not change keep the run that wrote them
    unchanged = query(
        database,
        "select count(*) from gainsight.customer_goals_lineage where run_id = ?",
        [first],
    )[0][0]
    assert unchanged > 0
    goals = query(database, "select count(*) from gainsight.customer_goals")[0][0]
    assert query(database, "select count(*) from gainsight.customer_goals_lineage") == [(goals,)]


def test_explain_prints_the_goal_its_raw_records_lookups_and_runs(synced, capsys):
    sandbox, database = synced
    goal_key, _ = a_kpi_goal(database)
    sandbox.commit_late("kpis", goal_key, {"target": 31.5}, seconds_late=0)
    assert cli.main(["run"]) == cli.EXIT_OK
    document_id, driver_id = query(
        database,
        "select document_id, value_driver_id from gainsight.customer_goals where goal_key = ?",
        [goal_key],
    )[0]
    company = query(
        database,
        "select name from gainsight.company where gsid = "
        "(select company_gsid from gainsight.customer_goals where goal_key = ?)",
        [goal_key],
    )[0][0]
    kpi_load = query(
        database, "select _dlt_load_id from ecosystems_raw.kpis where id = ?", [goal_key]
    )
    capsys.readouterr()

    assert cli.main(["explain", "--goal", goal_key]) == cli.EXIT_OK

    output = capsys.readouterr().out
    assert f"Goal {goal_key}" in output
    assert f"Source document {document_id} (ecosystems_raw.documents" in output
    assert f"Source value driver {driver_id} (ecosystems_raw.value_drivers" in output
    assert f"Source kpi {goal_key} (ecosystems_raw.kpis" in output
    assert kpi_load[0][0] in output
    assert "31.5" in output
    assert company in output
    runs = output.split("Runs that inserted or updated it")[1]
    assert [line.split("│")[1].strip() for line in runs.splitlines() if "│" in line] == ["1", "2"]
    assert "inserted" in runs and "updated" in runs
    assert sandbox.token not in output


def test_explain_of_an_unknown_goal_exits_2_with_one_line(synced, capsys):
    capsys.readouterr()
    assert cli.main(["explain", "--goal", "kpi_nowhere"]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "kpi_nowhere" in captured.err and "Traceback" not in captured.err


def test_explain_before_any_run_says_to_run_cs_goal_sync_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(tmp_path / "goalsync.duckdb"))
    assert cli.main(["explain", "--goal", "kpi_0000001"]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "run CS Goal Sync first" in captured.err
    assert not (tmp_path / "goalsync.duckdb").exists()

    duckdb.connect(str(tmp_path / "goalsync.duckdb")).close()  # a database, but no run yet
    assert cli.main(["explain", "--goal", "kpi_0000001"]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "run CS Goal Sync first" in captured.err


def test_the_history_compares_every_goal_column_but_gsid():
    goals = yaml.safe_load((MARTS / "customer_goals.yml").read_text())["models"][0]
    snapshot = yaml.safe_load(HISTORY_YML.read_text())["snapshots"][0]
    contract = [column["name"] for column in goals["columns"]]
    assert snapshot["config"]["check_cols"] == [name for name in contract if name != "gsid"]


def test_dbt_docs_generate_describes_the_history_and_lineage_models(tmp_path, monkeypatch):
    workspace = DbtWorkspace(tmp_path)
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(workspace.database))
    workspace.load(FIRST_STATE, FIRST_LOAD)
    workspace.dbt("build", *OOB_JOB_SELECTION, "--exclude-resource-type", "unit_test")
    workspace.dbt("docs", "generate")

    catalog = json.loads((workspace.target_path / "catalog.json").read_text())
    manifest = json.loads((workspace.target_path / "manifest.json").read_text())
    goal_columns = set(manifest["nodes"]["model.goalsync.customer_goals"]["columns"])
    for unique_id in (
        "model.goalsync.customer_goal_actuals",
        "model.goalsync.customer_goals_lineage",
        "snapshot.goalsync.customer_goals_history",
    ):
        node = manifest["nodes"][unique_id]
        assert node["description"], unique_id
        built = {name.lower() for name in catalog["nodes"][unique_id]["columns"]}
        assert built, unique_id
        described = {name for name, column in node["columns"].items() if column["description"]}
        # the history's copies of the goal columns are described in customer_goals.yml
        assert built - goal_columns <= described if "snapshot" in unique_id else built == described
