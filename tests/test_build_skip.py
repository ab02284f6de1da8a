"""A rerun with nothing new skips the dbt build; new data, changed files or a missing output
table build again. Real DuckDB, the in-process sandbox and a temporary copy of `dbt_project/`
(so files can change safely). A module fixture makes the first run once; each test starts
from its own copy of that run's folder and a fresh sandbox with the same data.
"""

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from faults_support import copy_project, goals_by_key, query

from extract.sandbox import SandboxServer
from extract.sandbox.data import SandboxScale
from goalsync import build_state, dbt
from goalsync import engine as engine_module
from goalsync.engine import Engine
from goalsync.jobs_config import load_jobs_config
from goalsync.paths import snapshot_path

REPO = Path(__file__).resolve().parents[1]
CHAIN = "CS Goal Sync then Company Value Summary"
GOAL_SYNC, SUMMARY = "CS Goal Sync", "Company Value Summary"
GOALS = "gainsight.customer_goals"


class RecordingReporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def stage(self, job_name: str, stage: str) -> None:
        self.lines.append(f"{job_name} · {stage}")

    def extraction_progress(self, resource: str, pages: int, rows: int) -> None:
        pass

    def model_finished(self, model: str, status: str) -> None:
        pass


SCALE = SandboxScale.for_kpis(400)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, list]:
    """The chain's first run into a fresh database: its folder (project, seeds, database)."""
    root = tmp_path_factory.mktemp("build_skip")
    project = copy_project(root)
    with pytest.MonkeyPatch.context() as patch, SandboxServer(SCALE) as server:
        patch.setattr(dbt, "DBT_PROJECT_DIR", project)
        source = SimpleNamespace(base_url=server.base_url, access_token=server.token)
        engine = Engine(root / "goalsync.duckdb", load_jobs_config(), source, RecordingReporter())
        results = engine.run_chain(CHAIN)
    return root, results


@pytest.fixture
def project(first_run, tmp_path, monkeypatch) -> Path:
    """This test's copy of the first run's folder; dbt runs its project."""
    root = tmp_path / "build_skip"
    shutil.copytree(first_run[0], root)
    monkeypatch.setattr(dbt, "DBT_PROJECT_DIR", root / "dbt_project")
    return root / "dbt_project"


@pytest.fixture
def sandbox():
    with SandboxServer(SCALE) as server:
        yield server


@pytest.fixture
def database(project) -> Path:
    return project.parent / "goalsync.duckdb"


@pytest.fixture
def reporter() -> RecordingReporter:
    return RecordingReporter()


@pytest.fixture
def engine(database, sandbox, reporter) -> Engine:
    source = SimpleNamespace(base_url=sandbox.base_url, access_token=sandbox.token)
    return Engine(database, load_jobs_config(), source, reporter)


def stages(database: Path, run_id: int) -> list[tuple[str, str]]:
    sql = "select stage, detail from activity.run_stages where run_id = ? order by started_at"
    return query(database, sql, [run_id])


def built_in(database: Path) -> dict[str, int]:
    return dict(query(database, "select job_name, run_id from activity.build_state"))


def last_run(database: Path, job_name: str) -> tuple:
    return query(
        database,
        "select run_id, status, rows_inserted, rows_updated, rows_deleted, rows_failed, message "
        "from activity.job_runs where job_name = ? order by run_id desc limit 1",
        [job_name],
    )[0]


def counts(result) -> tuple[int, int, int, int]:
    (objects,) = result.outcome.objects
    return objects.inserted, objects.updated, objects.deleted, objects.failed


def watermark(database: Path) -> str | None:
    with duckdb.connect(str(database)) as connection:
        return build_state.source_watermark(connection)


def test_first_run_builds_and_records_what_each_build_read(first_run, database):
    goal_sync, summary = first_run[1]

    assert (goal_sync.status, summary.status) == ("Partial Success", "Partial Success")
    assert built_in(database) == {GOAL_SYNC: goal_sync.run_id, SUMMARY: summary.run_id}
    assert ("transform", "") in stages(database, goal_sync.run_id)
    assert "skipped" not in goal_sync.message


def test_a_rerun_with_nothing_new_skips_the_build(database, engine, reporter, monkeypatch):
    first_goal_sync, first_summary = last_run(database, GOAL_SYNC), last_run(database, SUMMARY)
    goals = goals_by_key(database)
    summary_rows = query(database, "select * from gainsight.company_value_summary order by 1")
    loads = watermark(database)
    snapshots, counted = [], []
    real_snapshot, real_count = engine_module.snapshot_destination, engine_module.count_changes

    def no_dbt(*args, **kwargs):
        raise AssertionError("dbt was called")

    def snapshot(connection, table, path):
        snapshots.append(table.relation)
        real_snapshot(connection, table, path)

    def count_changes(connection, table, path):
        counted.append(table.relation)
        assert path.exists()
        return real_count(connection, table, path)

    monkeypatch.setattr(engine_module, "run_dbt", no_dbt)
    monkeypatch.setattr(engine_module, "snapshot_destination", snapshot)
    monkeypatch.setattr(engine_module, "count_changes", count_changes)

    goal_sync, summary = engine.run_chain(CHAIN)

    assert watermark(database) == loads  # the extraction loaded nothing
    for result, first in ((goal_sync, first_goal_sync), (summary, first_summary)):
        since = f"nothing changed since run {first[0]}"
        assert result.status == first[1], result.message
        assert f"; {since}, dbt build skipped" in result.message
        assert ("transform", f"skipped, {since}") in stages(database, result.run_id)
        assert f"{result.job_name} · transform: skipped, {since}" in reporter.lines
    # the rejected records are reported again, as by every run
    rejected = query(database, "select count(*) from gainsight.customer_goals_errors")[0][0]
    assert counts(goal_sync) == (0, 0, 0, first_goal_sync[5]) and rejected == first_goal_sync[5]
    assert query(
        database, "select count(*) from activity.error_records where run_id = ?", [goal_sync.run_id]
    ) == [(rejected,)]
    # dbt writes the custom job's object too: a skipped build changes nothing to count
    assert [stage for stage, _ in stages(database, summary.run_id)] == [
        "extract",
        "transform",
        "activity",
    ]
    assert counts(summary) == (0, 0, 0, first_summary[5])
    assert snapshots == counted == []
    assert not snapshot_path(database).exists()
    assert goals_by_key(database) == goals
    assert query(database, "select * from gainsight.company_value_summary order by 1") == (
        summary_rows
    )
    assert built_in(database) == {GOAL_SYNC: first_goal_sync[0], SUMMARY: first_summary[0]}


def test_new_source_data_builds_and_counts_the_changes(database, engine, sandbox):
    before = goals_by_key(database)
    sandbox.mutate()

    (result,) = engine.run_job(GOAL_SYNC)

    after = goals_by_key(database)
    inserted = len(after.keys() - before.keys())
    deleted = len(before.keys() - after.keys())
    updated = sum(1 for key in before.keys() & after.keys() if before[key][1:] != after[key][1:])
    assert counts(result)[:3] == (inserted, updated, deleted) and updated > 0
    assert ("transform", "") in stages(database, result.run_id)
    assert "skipped" not in result.message
    assert built_in(database)[GOAL_SYNC] == result.run_id


def test_a_custom_job_builds_after_the_goals_it_reads_were_rebuilt(database, engine, sandbox):
    sandbox.mutate()
    engine.run_job(GOAL_SYNC)
    # the same raw loads as the goals' last build: only that newer build can make it build
    query(
        database,
        "update activity.build_state set source_watermark = ? where job_name = ?",
        [watermark(database), SUMMARY],
    )
    assert built_in(database)[SUMMARY] < built_in(database)[GOAL_SYNC]

    (rebuilt,) = engine.run_job(SUMMARY)
    (skipped,) = engine.run_job(SUMMARY)

    assert ("transform", "") in stages(database, rebuilt.run_id)
    assert counts(rebuilt)[:3] != (0, 0, 0)  # the new goals reached the summary
    assert f"nothing changed since run {rebuilt.run_id}" in skipped.message


def test_a_missing_output_table_builds_again(database, engine):
    query(database, "drop table gainsight.customer_goals_errors")

    (result,) = engine.run_job(GOAL_SYNC)

    assert ("transform", "") in stages(database, result.run_id)
    rejected = query(database, "select count(*) from gainsight.customer_goals_errors")[0][0]
    assert counts(result) == (0, 0, 0, rejected) and rejected > 0


def test_a_changed_seed_file_builds_again(database, engine, project):
    companies = project.parent / "seeds" / "company.csv"
    company_gsid = query(database, f"select min(company_gsid) from {GOALS}")[0][0]
    goals = query(database, f"select count(*) from {GOALS} where company_gsid = ?", [company_gsid])
    text = companies.read_text(encoding="utf-8")
    companies.write_text(text.replace(company_gsid, company_gsid[:-4] + "TEST"), encoding="utf-8")

    (result,) = engine.run_job(GOAL_SYNC)

    assert ("transform", "") in stages(database, result.run_id)
    assert counts(result)[:3] == (0, goals[0][0], 0)


def test_the_fingerprint_covers_what_dbt_reads_and_not_what_it_writes(tmp_path):
    project = copy_project(tmp_path)
    jobs = tmp_path / "jobs.yml"
    shutil.copy(REPO / "jobs.yml", jobs)
    original = build_state.inputs_fingerprint(project, jobs)
    assert build_state.inputs_fingerprint(project, jobs) == original

    for written in ("target/manifest.json", "logs/dbt.log", "dbt_packages/x/a.sql", ".user.yml"):
        (project / written).parent.mkdir(parents=True, exist_ok=True)
        (project / written).write_text("written by dbt", encoding="utf-8")
    assert build_state.inputs_fingerprint(project, jobs) == original

    model = project / "models" / "marts" / "cs_goal_sync" / "customer_goals.sql"
    for changed in (
        model,
        project / "macros" / "stable_gsid.sql",
        project / "dbt_project.yml",
        tmp_path / "seeds" / "gs_user.csv",
        jobs,
    ):
        content = changed.read_bytes()
        changed.write_bytes(content + b"\n")
        assert build_state.inputs_fingerprint(project, jobs) != original, changed
        changed.write_bytes(content)
        assert build_state.inputs_fingerprint(project, jobs) == original, changed

    (project / "models" / "custom" / "new_model.sql").write_text("select 1", encoding="utf-8")
    assert build_state.inputs_fingerprint(project, jobs) != original


def test_the_skip_path_imports_no_dbt():
    probe = (
        "import sys; import goalsync.cli, goalsync.engine, goalsync.build_state; "
        "print(sorted(m for m in sys.modules if m == 'dbt' or m.startswith('dbt.')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
