"""Custom jobs end to end: models in models/custom, jobs.yml entries, the engine's insert,
update and upsert into gainsight.<object>, counts and error records, and `job new`.

A module fixture copies `dbt_project/` (plus the fixture models of
tests/fixtures/custom_jobs) and runs the example chain once; each test starts from its own
copy of that folder and a fresh sandbox with the same data, so the dbt runs stay few and
every test stands alone.
"""

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from faults_support import copy_project

from extract.sandbox import SandboxServer
from goalsync import cli, dbt, scaffold
from goalsync.dbt import run_dbt
from goalsync.jobs_config import Destination, load_jobs_config

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "custom_jobs"
EXAMPLE_CHAIN = "CS Goal Sync then Company Value Summary"
SUMMARY = "gainsight.company_value_summary"

FIXTURE_JOBS = """
  - name: Goal Snapshot Insert
    model: goal_snapshot
    errors_model: goal_snapshot_errors
    extract: []
    destination: {object: goal_snapshot, kind: custom, operation: insert, key: [goal_key]}
  - name: Goal Snapshot Update
    model: goal_snapshot
    errors_model: goal_snapshot_errors
    extract: []
    destination: {object: goal_snapshot, kind: custom, operation: update, key: [goal_key]}
  - name: Goal Snapshot Upsert
    model: goal_snapshot
    errors_model: goal_snapshot_errors
    extract: []
    destination:
      {object: goal_snapshot_upserted, kind: custom, operation: upsert, key: [goal_key]}
  - name: Broken Goal Copy
    model: broken_goal_copy
    extract: [documents, value_drivers, kpis]
    destination: {object: broken_goal_copy, kind: custom, operation: upsert, key: [goal_key]}
  - name: Seven Pair Lookup
    model: seven_pair_lookup
    extract: []
    destination: {object: seven_pair_lookup, kind: custom, operation: upsert, key: [goal_key]}
  - name: GSID Into Text
    model: gsid_into_text
    extract: []
    destination: {object: gsid_into_text, kind: custom, operation: upsert, key: [goal_key]}
  - name: GSID Declared Bigint
    model: gsid_declared_bigint
    extract: []
    destination:
      {object: gsid_declared_bigint, kind: custom, operation: upsert, key: [goal_key]}
  - name: Writes Customer Goals
    model: goal_snapshot
    extract: []
    destination: {object: customer_goals, kind: custom, operation: upsert, key: [goal_key]}
  - name: Key Not In Model
    model: goal_snapshot
    extract: []
    destination: {object: key_not_in_model, kind: custom, operation: upsert, key: [kpi_id]}
"""
FIXTURE_CHAINS = """
  - name: Broken then Summary
    jobs: [Broken Goal Copy, Company Value Summary]
"""


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> tuple[Path, list]:
    """The folder (project, jobs.yml, database) after the example chain's first run."""
    root = tmp_path_factory.mktemp("custom_jobs")
    copy_project(root)
    for fixture in FIXTURES.iterdir():
        shutil.copy(fixture, root / "dbt_project" / "models" / "custom")
    shipped = (REPO / "jobs.yml").read_text(encoding="utf-8")
    jobs = shipped.replace("\nchains:\n", FIXTURE_JOBS + "\nchains:\n") + FIXTURE_CHAINS
    (root / "jobs.yml").write_text(jobs, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch, SandboxServer() as server:
        use_folder(patch, root, server)
        results = run("chain", EXAMPLE_CHAIN)
    return root, results


def use_folder(patch: pytest.MonkeyPatch, root: Path, sandbox: SandboxServer) -> None:
    """Runs, dbt and `job new` use this folder's project, jobs.yml and database."""
    jobs_path = root / "jobs.yml"
    patch.setenv("GOALSYNC_DUCKDB_PATH", str(root / "goalsync.duckdb"))
    patch.setenv("SOURCES__ECOSYSTEMS__ACCESS_TOKEN", sandbox.token)
    patch.setenv("SOURCES__ECOSYSTEMS__BASE_URL", sandbox.base_url)
    patch.setattr(dbt, "DBT_PROJECT_DIR", root / "dbt_project")
    patch.setattr(scaffold, "DBT_PROJECT_DIR", root / "dbt_project")
    patch.setattr(scaffold, "DEFAULT_JOBS_PATH", jobs_path)
    patch.setattr(cli, "load_jobs_config", lambda: load_jobs_config(jobs_path))


@pytest.fixture
def sandbox():
    with SandboxServer() as server:
        yield server


@pytest.fixture
def project(example_run, tmp_path, sandbox, monkeypatch) -> Path:
    """This test's copy of the example run's folder, in use."""
    root = tmp_path / "custom_jobs"
    shutil.copytree(example_run[0], root)
    use_folder(monkeypatch, root, sandbox)
    return root


@pytest.fixture
def database(project) -> Path:
    return project / "goalsync.duckdb"


def query(database: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(database)) as connection:
        return connection.execute(sql, params or []).fetchall()


def exists(database: Path, relation: str) -> bool:
    schema, name = relation.split(".")
    sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return query(database, sql, [schema, name])[0][0] == 1


def rows_by_key(database: Path, relation: str) -> dict[str, tuple]:
    """Rows by goal_key, every column but the destination's gsid (same order as the model)."""
    columns = [
        row[0]
        for row in query(
            database,
            "select column_name from information_schema.columns where table_schema = ? "
            "and table_name = ? and column_name <> 'gsid' order by ordinal_position",
            relation.split("."),
        )
    ]
    rows = query(database, f"select {', '.join(columns)} from {relation}")
    return {row[columns.index("goal_key")]: row for row in rows}


def run(kind: str, name: str) -> list:
    return cli.run_target(kind, name, "manual")


def counts(result) -> tuple[int, int, int, int]:
    (objects,) = result.outcome.objects
    return objects.inserted, objects.updated, objects.deleted, objects.failed


# --- job new, the example job, preview --------------------------------------------------

TWO_PAIRS = (
    "{'source': 'crm_account_id', 'target': 'sfdc_account_id'},\n"
    "            {'source': 'account_name', 'target': 'name', 'case_insensitive': true},\n"
)


def scaffold_goal_targets() -> None:
    command = ["job", "new", "Goal Targets", "--source", "kpis", "--destination", "goal_targets"]
    assert cli.main(command) == cli.EXIT_OK


def test_job_new_scaffolds_models_and_a_jobs_entry(project):
    scaffold_goal_targets()

    custom = project / "dbt_project" / "models" / "custom"
    assert sorted(path.name for path in custom.glob("goal_targets*")) == [
        "goal_targets.sql",
        "goal_targets.yml",
        "goal_targets__mapped.sql",
        "goal_targets_errors.sql",
    ]
    job = load_jobs_config(project / "jobs.yml").job("Goal Targets")
    assert (job.model, job.errors_model, job.extract) == ("goal_targets", "goal_targets_errors", ())
    assert job.destination == Destination("goal_targets", "custom", "upsert", ("kpi_id",))
    # the README's edit: match on two columns, the account name in any case
    mapped = custom / "goal_targets__mapped.sql"
    one_pair = "{'source': 'crm_account_id', 'target': 'sfdc_account_id'},\n"
    assert one_pair in mapped.read_text(encoding="utf-8")
    mapped.write_text(mapped.read_text(encoding="utf-8").replace(one_pair, TWO_PAIRS))


def test_job_new_refuses_taken_names_and_objects(project):
    scaffold_goal_targets()
    jobs_before = (project / "jobs.yml").read_text(encoding="utf-8")
    for name, destination, options in (
        ("goal targets", "other", []),
        ("Company Value Summary", "other", []),
        ("Goals Again", "customer_goals", []),
        ("Companies", "company", []),
        ("Per Company", "per_company", ["--kind", "company", "--key", "kpi_id"]),
    ):
        command = ["job", "new", name, "--source", "kpis", "--destination", destination]
        assert cli.main([*command, *options]) == cli.EXIT_USAGE, name
    assert (project / "jobs.yml").read_text(encoding="utf-8") == jobs_before


def test_example_chain_loads_one_summary_row_per_company(example_run, database):
    goal_sync, summary = example_run[1]

    assert (goal_sync.job_name, goal_sync.status) == ("CS Goal Sync", "Partial Success")
    assert (summary.job_name, summary.status) == ("Company Value Summary", "Partial Success")
    rows = query(
        database,
        f"""select summary.company_gsid, summary.gsid, summary.goals, summary.total_benefit,
                   summary.kpis_measured, summary.kpis_on_track, summary.kpis_on_track_share
            from {SUMMARY} as summary
            inner join gainsight.company as company on company.gsid = summary.company_gsid""",
    )
    loaded = query(database, f"select count(*) from {SUMMARY}")[0][0]
    assert len(rows) == loaded > 0  # every row joins to exactly one company
    assert len({row[1] for row in rows}) == loaded and all(len(row[1]) == 36 for row in rows)
    errors = query(
        database,
        "select record_key, reason, object_name, json_extract_string(record, '$.document_id') "
        "from activity.error_records where run_id = ?",
        [summary.run_id],
    )
    assert counts(summary) == (loaded, 0, 0, len(errors))
    assert errors and {(e[1], e[2]) for e in errors} == {
        ("company_not_found", "company_value_summary")
    }
    assert all(e[0] == e[3] for e in errors)  # record_key is the rejected document's id
    assert query(
        database, "select * from activity.object_updates where run_id = ?", [summary.run_id]
    ) == [(summary.run_id, "company_value_summary", loaded, 0, 0, len(errors))]

    # The same numbers computed another way, from the customer goals and raw KPI directions.
    expected = query(
        database,
        """select goal.company_gsid,
                  count(*),
                  count(kpi.kpi_direction) filter (
                      where goal.kpi_actuals is not null and goal.kpi_target is not null),
                  count(*) filter (where
                    (kpi.kpi_direction = 'increase' and goal.kpi_actuals >= goal.kpi_target)
                    or (kpi.kpi_direction = 'decrease' and goal.kpi_actuals <= goal.kpi_target))
           from gainsight.customer_goals as goal
           left join staging.stg_ecosystems__kpis as kpi on kpi.kpi_id = goal.kpi_id
           group by goal.company_gsid""",
    )
    by_company = {row[0]: row for row in rows}
    for company_gsid, goals, measured, on_track in expected:
        summary_row = by_company[company_gsid]
        assert summary_row[2] == goals and summary_row[4:6] == (measured, on_track)
        share = summary_row[6]
        assert share == (on_track / measured if measured else None)


def test_custom_models_unit_tests_pass(database):
    outcome = run_dbt(["test", "--select", "test_type:unit,path:models/custom"], database)

    assert outcome.success, outcome.message
    assert len(outcome.nodes) == 6  # 3 of the example job, 3 of the mapping fixture


def test_new_job_previews_before_its_first_run_then_runs(database, capsys):
    scaffold_goal_targets()
    capsys.readouterr()
    assert cli.main(["preview", "--job", "Goal Targets", "--limit", "3"]) == cli.EXIT_OK

    output = capsys.readouterr().out
    assert "kpi_id" in output and "company_gsid" in output and "3 rows" in output
    assert not exists(database, "gainsight.goal_targets")  # a preview writes nothing
    assert not exists(database, "custom_staging.goal_targets")

    (result,) = run("job", "Goal Targets")

    assert result.status == "Partial Success", result.message
    loaded = query(
        database,
        """select count(*) from gainsight.goal_targets as goal
           inner join gainsight.company as company on company.gsid = goal.company_gsid""",
    )[0][0]
    errors = query(
        database,
        "select count(*), min(reason), max(reason) from activity.error_records where run_id = ?",
        [result.run_id],
    )[0]
    live = query(database, "select count(*) from intermediate.int_kpis__live")[0][0]
    assert counts(result) == (loaded, 0, 0, errors[0])
    assert loaded + errors[0] == live and errors[1:] == ("company_not_found",) * 2


def test_scaffolded_company_job_runs(database):
    command = ["job", "new", "Value Drivers Per Company", "--source", "value_drivers"]
    options = ["--destination", "value_drivers_per_company", "--kind", "company"]
    assert cli.main([*command, *options]) == cli.EXIT_OK

    (result,) = run("job", "Value Drivers Per Company")

    assert result.status == "Partial Success", result.message  # unknown accounts are errors
    per_company = query(
        database,
        """select count(*), sum(value_drivers) from gainsight.value_drivers_per_company as v
           inner join gainsight.company as company on company.gsid = v.company_gsid""",
    )[0]
    rejected = counts(result)[3]
    live = query(database, "select count(*) from intermediate.int_value_drivers__live")[0][0]
    assert per_company[1] + rejected == live
    assert counts(result)[:3] == (per_company[0], 0, 0)


# --- mappings and operations ----------------------------------------------------------


def test_first_run_creates_objects_and_applies_every_mapping(database):
    inserted, updated, upserted = (
        run("job", name)[0]
        for name in ("Goal Snapshot Insert", "Goal Snapshot Update", "Goal Snapshot Upsert")
    )

    output = rows_by_key(database, "custom_staging.goal_snapshot")
    errors = query(database, "select count(*) from custom_staging.goal_snapshot_errors")[0][0]
    assert inserted.status == "Partial Success" and errors > 0
    assert counts(inserted) == (len(output), 0, 0, errors)
    assert counts(updated) == (0, 0, 0, errors)  # same output: nothing to update
    assert counts(upserted) == (len(output), 0, 0, errors)
    assert rows_by_key(database, "gainsight.goal_snapshot") == output
    assert rows_by_key(database, "gainsight.goal_snapshot_upserted") == output
    columns = query(
        database,
        "select column_name, data_type from information_schema.columns where table_schema "
        "= 'gainsight' and table_name = 'goal_snapshot' order by ordinal_position",
    )
    assert columns[:4] == [
        ("gsid", "VARCHAR"),
        ("goal_key", "VARCHAR"),
        ("kpi_name", "VARCHAR"),
        ("kpi_target", "DOUBLE"),
    ]
    # self lookup: every primary goal is a row of the same object (same gsid formula)
    assert query(
        database,
        """select count(*) from gainsight.goal_snapshot as goal
           where not exists (select 1 from gainsight.goal_snapshot as primary_goal
                             where primary_goal.gsid = goal.primary_goal_gsid)""",
    ) == [(0,)]
    # six-pair lookup into customer_goals finds each goal's own customer goal
    assert query(
        database,
        """select count(*), count(*) filter (where goal.customer_goal_gsid = customer.gsid)
           from gainsight.goal_snapshot as goal
           inner join gainsight.customer_goals as customer using (goal_key)""",
    )[0] == (len(output), len(output))
    # the default value stands in for creators that are not Gainsight users
    defaulted = query(
        database,
        "select count(*) from gainsight.goal_snapshot "
        "where created_by_gsid = '1P01CSOPSQUEUE0000000000000000000000'",
    )[0][0]
    assert defaulted > 0


def test_broken_custom_job_fails_alone_and_skips_the_rest_of_its_chain(database, sandbox):
    goals = rows_by_key(database, "gainsight.customer_goals")
    summary = query(database, f"select * from {SUMMARY} order by company_gsid")
    live_goals = query(database, "select count(*) from intermediate.int_goals__joined")[0][0]
    sandbox.mutate()

    broken, skipped = run("chain", "Broken then Summary")

    assert broken.status == "Failed" and skipped.status == "Skipped"
    assert "broken_goal_copy" in broken.message and "no_such_column" in broken.message
    assert "\n" not in broken.message
    assert not exists(database, "gainsight.broken_goal_copy")
    # New source data arrived, yet customer_goals was not rebuilt: only the job's own
    # models are built, so CS Goal Sync's table and counts stay its own.
    assert query(database, "select count(*) from intermediate.int_goals__joined")[0][0] != (
        live_goals
    )
    assert rows_by_key(database, "gainsight.customer_goals") == goals
    assert query(database, f"select * from {SUMMARY} order by company_gsid") == summary


def test_second_run_counts_real_inserts_and_updates_per_operation(database, sandbox):
    for name in ("Goal Snapshot Insert", "Goal Snapshot Update", "Goal Snapshot Upsert"):
        run("job", name)
    sandbox.mutate()
    run("job", "CS Goal Sync")  # new source data reaches the goals the snapshot reads
    before = rows_by_key(database, "gainsight.goal_snapshot")
    assert rows_by_key(database, "gainsight.goal_snapshot_upserted") == before

    (update,) = run("job", "Goal Snapshot Update")
    output = rows_by_key(database, "custom_staging.goal_snapshot")
    new = output.keys() - before.keys()
    gone = before.keys() - output.keys()
    changed = {key for key in before.keys() & output.keys() if before[key] != output[key]}
    assert new and gone and changed  # the mutation added, deleted and changed goals
    assert changed < before.keys() & output.keys()  # and left most alone
    assert counts(update)[:3] == (0, len(changed), 0)
    assert rows_by_key(database, "gainsight.goal_snapshot").keys() == before.keys()

    (insert,) = run("job", "Goal Snapshot Insert")
    assert counts(insert)[:3] == (len(new), 0, 0)

    (upsert,) = run("job", "Goal Snapshot Upsert")
    assert counts(upsert)[:3] == (len(new), len(changed), 0)
    for relation in ("gainsight.goal_snapshot", "gainsight.goal_snapshot_upserted"):
        after = rows_by_key(database, relation)
        assert after == {**before, **output}  # rows gone from the output are left alone


def test_lookup_and_config_errors_fail_the_job_alone(database):
    goals = rows_by_key(database, "gainsight.customer_goals")
    expected = {
        "Seven Pair Lookup": "matches on 1 to 6 column pairs (the limit is 6); got 7",
        "GSID Into Text": "into 'company', which is not a GSID column",
        "GSID Declared Bigint": "declared as 'bigint'",
        "Writes Customer Goals": "gainsight.customer_goals belongs to job 'CS Goal Sync'",
        "Key Not In Model": "key column 'kpi_id' (jobs.yml) is not a column of model",
    }
    for job_name, reason in expected.items():
        (result,) = run("job", job_name)
        assert result.status == "Failed" and reason in result.message, result.message
        assert "\n" not in result.message
    for relation in ("seven_pair_lookup", "gsid_into_text", "key_not_in_model"):
        assert not exists(database, f"gainsight.{relation}")
    assert rows_by_key(database, "gainsight.customer_goals") == goals


# --- pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "jobs:\n  - name: New\n"),
        (
            "jobs:\n- name: CS Goal Sync\n\n# chains below\nchains: []\n",
            "jobs:\n- name: CS Goal Sync\n\n- name: New\n\n# chains below\nchains: []\n",
        ),
        (
            "# jobs\njobs:\n  - name: A\n    model: a\nchains:\n  - name: A\n",
            "# jobs\njobs:\n  - name: A\n    model: a\n\n  - name: New\nchains:\n  - name: A\n",
        ),
    ],
)
def test_job_entry_is_added_to_the_jobs_list(text, expected):
    assert scaffold._with_job_entry(text, "  - name: New\n") == expected


def test_model_name_comes_from_the_job_name():
    assert scaffold.model_name_for(" Company Value Summary! ") == "company_value_summary"
    with pytest.raises(cli.ConfigError):
        scaffold.model_name_for("2026 goals")
    entry = scaffold._jobs_entry("Goals: EMEA #1", "goals_emea_1", "x", "custom", "upsert", "k")
    assert yaml.safe_load("jobs:\n" + entry)["jobs"][0]["name"] == "Goals: EMEA #1"
