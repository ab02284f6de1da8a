"""Stops: SIGTERM and Ctrl-C (SIGINT) sent to a real `orchestrate.py` during extraction, the
load and `dbt build`. The run stops within seconds, is recorded as Failed "stopped by signal
…", exits 128 + the signal, leaves the database as a recovered kill -9 would and releases
it: the next run ends exactly where a run that never stopped ends."""

import signal
import time

import pytest
from faults_support import (
    Orchestrate,
    clean_run,
    copy_database,
    first_completed_load_job,
    mutated_sandbox,
    raw_tables,
    result,
    run_environment,
    runs,
    snapshot,
)

from extract.sandbox import Fault
from goalsync import cli

STOPPED_WITHIN_SECONDS = 20  # generous for a loaded CI machine; a hang would take 300 s


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    return clean_run(0, root)[0], clean_run(1, root)[1]


@pytest.fixture
def sandbox():
    with mutated_sandbox(1) as server:
        yield server


@pytest.fixture
def database(tmp_path, clean):
    return copy_database(clean[0], tmp_path / "goalsync.duckdb")


@pytest.fixture
def child():
    started: list[Orchestrate] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def stop(run: Orchestrate, signum: int) -> int:
    """Send the signal; the exit status, which must come within seconds."""
    sent = time.monotonic()
    run.signal(signum)
    status = run.process.wait(timeout=STOPPED_WITHIN_SECONDS + 30)
    assert time.monotonic() - sent < STOPPED_WITHIN_SECONDS, run.output
    return status


def assert_stopped_and_recovers(run, status, signum, database, clean, monkeypatch) -> None:
    name = signal.Signals(signum).name
    assert status == 128 + signum, run.output
    assert f"stopped by signal {name}" in run.output
    assert "Traceback" not in run.output
    assert runs(database)[-1][1:] == ("Failed", f"stopped by signal {name}")
    # the database is free again, and the next run converges to a clean one
    for variable, value in run_environment(database, "").items():
        if variable != "SOURCES__ECOSYSTEMS__BASE_URL":
            monkeypatch.setenv(variable, value)
    assert cli.main(["run"]) == cli.EXIT_OK
    assert runs(database)[-1][1] in ("Success", "Partial Success")
    assert result(database) == clean[1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_during_extraction_leaves_the_database_as_it_was(
    signum, sandbox, database, clean, child, monkeypatch
):
    before = snapshot(database)
    # the listing hangs on page 2 of the KPIs (a 300 s request timeout): the stop must not wait
    sandbox.set_faults(Fault("hang", seconds=300, endpoint="kpis", from_page=2))
    env = run_environment(database, sandbox.base_url)
    run = Orchestrate({**env, "SOURCES__ECOSYSTEMS__REQUEST_TIMEOUT": "300"})
    child.append(run)
    run.wait_for(r"kpis: 1 pages")
    deadline = time.monotonic() + 60
    while sandbox.stats()["faults_fired"] < 1:
        assert time.monotonic() < deadline and run.process.poll() is None, run.output
        time.sleep(0.05)

    status = stop(run, signum)

    assert snapshot(database) == before  # raw tables, goals, errors, cursor state
    sandbox.set_faults()
    monkeypatch.setenv("SOURCES__ECOSYSTEMS__BASE_URL", sandbox.base_url)
    assert_stopped_and_recovers(run, status, signum, database, clean, monkeypatch)


def test_a_stop_during_the_load_loads_nothing_twice(sandbox, database, clean, child, monkeypatch):
    before = snapshot(database)
    run = Orchestrate(run_environment(database, sandbox.base_url))
    child.append(run)
    run.wait_for(r"read \d+ records; loading what is new into ecosystems_raw")
    first_completed_load_job(database)

    status = stop(run, signal.SIGTERM)

    assert snapshot(database)["goals"] == before["goals"]  # dbt never ran
    for rows in raw_tables(database).values():
        assert len({row[0] for row in rows}) == len(rows)  # a half load duplicates nothing
    monkeypatch.setenv("SOURCES__ECOSYSTEMS__BASE_URL", sandbox.base_url)
    assert_stopped_and_recovers(run, status, signal.SIGTERM, database, clean, monkeypatch)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_during_dbt_build_keeps_the_raw_data_and_the_next_run_rebuilds(
    signum, sandbox, database, clean, child, monkeypatch
):
    run = Orchestrate(run_environment(database, sandbox.base_url))
    child.append(run)
    run.wait_for(r"dbt \w+: success")

    status = stop(run, signum)

    assert raw_tables(database) == clean[1]["raw"]  # the load had completed: nothing lost
    monkeypatch.setenv("SOURCES__ECOSYSTEMS__BASE_URL", sandbox.base_url)
    assert_stopped_and_recovers(run, status, signum, database, clean, monkeypatch)
