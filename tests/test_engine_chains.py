"""Chain order, skip-on-failure, dependent jobs and interrupted runs, on a real activity log.

Extraction and dbt are replaced by fakes here: these rules belong to the engine alone
(the end-to-end tests run the real stages).
"""

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from goalsync import engine as engine_module
from goalsync.activity import INTERRUPTED
from goalsync.dbt import DbtOutcome
from goalsync.engine import Engine
from goalsync.extraction import ExtractionResult
from goalsync.jobs_config import CS_GOAL_SYNC, ChainSpec, Destination, JobsConfig


def standard_job(name: str, dependent_job: str | None = None):
    destination = Destination(f"{name}_object", "standard", "replace", ("goal_key",), ())
    return replace(
        CS_GOAL_SYNC,
        name=name,
        model=f"{name}_model",
        errors_model=None,
        destination=destination,
        dependent_job=dependent_job,
        locked=False,
    )


@pytest.fixture
def database(tmp_path) -> Path:
    return tmp_path / "goalsync.duckdb"


@pytest.fixture
def failing_models(monkeypatch, database) -> set[str]:
    """Fake stages: extraction reads 3 rows; dbt 'builds' one row per job, or fails."""
    failing: set[str] = set()

    def fake_extraction(*args, **kwargs) -> ExtractionResult:
        return ExtractionResult(rows_read={"kpis": 3})

    def fake_dbt(args, db, on_node=None, run_id=None) -> DbtOutcome:
        model = args[args.index("--select") + 1].lstrip("+")
        if model in failing:
            return DbtOutcome(False, f"dbt build failed in {model}: boom")
        with duckdb.connect(str(db)) as connection:
            connection.execute("create schema if not exists gainsight")
            table = model.removesuffix("_model") + "_object"
            connection.execute(
                f"create or replace table gainsight.{table} as select 'k1' as goal_key"
            )
        return DbtOutcome(True)

    monkeypatch.setattr(engine_module, "run_extraction", fake_extraction)
    monkeypatch.setattr(engine_module, "run_dbt", fake_dbt)
    return failing


def make_engine(database: Path, *jobs, chain: tuple[str, ...] = ()) -> Engine:
    config = JobsConfig(
        jobs={job.name: job for job in jobs},
        chains={"nightly": ChainSpec("nightly", chain)},
        path=database.parent / "jobs.yml",
    )
    source = SimpleNamespace(base_url="http://127.0.0.1:9/v1", access_token="unused")
    return Engine(database, config, source)


def runs(database: Path) -> list[tuple]:
    with duckdb.connect(str(database)) as connection:
        return connection.execute(
            "select job_name, chain_name, trigger, status, rows_read, rows_inserted "
            "from activity.job_runs order by run_id"
        ).fetchall()


def test_a_failed_job_skips_the_rest_of_its_chain(database, failing_models):
    failing_models.add("b_model")
    engine = make_engine(
        database, standard_job("a"), standard_job("b"), standard_job("c"), chain=("a", "b", "c")
    )
    results = engine.run_chain("nightly")
    assert [r.status for r in results] == ["Success", "Failed", "Skipped"]
    assert "boom" in results[1].message and "'b' failed earlier" in results[2].message
    assert runs(database) == [
        ("a", "nightly", "manual", "Success", 3, 1),
        ("b", "nightly", "manual", "Failed", 0, 0),
        ("c", "nightly", "manual", "Skipped", 0, 0),
    ]


def test_a_dependent_job_runs_after_success_and_is_skipped_after_failure(database, failing_models):
    engine = make_engine(database, standard_job("a", dependent_job="d"), standard_job("d"))
    assert [(r.job_name, r.status) for r in engine.run_job("a")] == [
        ("a", "Success"),
        ("d", "Success"),
    ]
    assert runs(database)[-1][2] == "chain"  # started by the job it depends on
    failing_models.add("a_model")
    assert [(r.job_name, r.status) for r in engine.run_job("a")] == [
        ("a", "Failed"),
        ("d", "Skipped"),
    ]


def test_a_run_left_running_by_a_killed_process_is_closed_as_failed(database, failing_models):
    make_engine(database, standard_job("a"))
    with duckdb.connect(str(database)) as connection:
        connection.execute(
            "insert into activity.job_runs (run_id, job_name, status, started_at) "
            "values (41, 'a', 'Running', now())"
        )
    make_engine(database, standard_job("a"))
    with duckdb.connect(str(database)) as connection:
        status, message, finished = connection.execute(
            "select status, message, finished_at from activity.job_runs where run_id = 41"
        ).fetchone()
    assert (status, message) == ("Failed", INTERRUPTED) and finished is not None
