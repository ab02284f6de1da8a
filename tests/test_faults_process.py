"""Process faults: real `orchestrate.py` processes, killed with SIGKILL during extraction,
during the load and during `dbt build`, and two runs at once. Each next run recovers by
itself; the last one ends exactly where a run that never failed ends.

The processes follow each other: a run waiting for the database is paused (SIGSTOP) while
the test inspects the database after a kill, then resumed (SIGCONT).
"""

import re
import signal
import time

import pytest
from faults_support import (
    TOKEN,
    Orchestrate,
    clean_run,
    copy_database,
    first_completed_load_job,
    goals,
    mutated_sandbox,
    partial_extractions,
    pending_packages,
    query,
    raw_tables,
    result,
    run_environment,
    runs,
    snapshot,
)

from extract.sandbox import Fault
from goalsync import cli
from goalsync.activity import INTERRUPTED


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    return clean_run(0, root)[0], clean_run(1, root)[1]


@pytest.fixture(scope="module")
def sandbox():
    with mutated_sandbox(1) as server:
        yield server


@pytest.fixture(scope="module")
def database(tmp_path_factory, clean):
    return copy_database(clean[0], tmp_path_factory.mktemp("process") / "goalsync.duckdb")


@pytest.fixture(scope="module")
def children():
    """The module's child processes by role; any still alive at the end is killed."""
    started: dict[str, Orchestrate] = {}
    yield started
    for child in started.values():
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait()


@pytest.fixture(scope="module")
def baseline(database):
    return snapshot(database)


def env_for(database, sandbox, **extra: str) -> dict[str, str]:
    return {**run_environment(database, sandbox.base_url), **extra}


def test_a_second_run_waits_a_bounded_time_then_names_the_run_holding_the_database(
    sandbox, database, baseline, children, monkeypatch, capsys
):
    # the first run hangs on the API (long timeout), holding the database in extraction
    sandbox.set_faults(Fault("hang", seconds=300, endpoint="kpis", from_page=2))
    slow = env_for(database, sandbox, SOURCES__ECOSYSTEMS__REQUEST_TIMEOUT="300")
    first = children["extraction"] = Orchestrate(slow)
    first.wait_for(r"kpis: 1 pages")
    deadline = time.monotonic() + 60
    while sandbox.stats()["faults_fired"] < 1:
        assert time.monotonic() < deadline and first.process.poll() is None, first.output
        time.sleep(0.05)

    # a second process waits for the lock (the one that will recover, see the next tests)
    waiting = children["load"] = Orchestrate(env_for(database, sandbox))
    waiting.wait_for(r"goalsync manual run of chain 'CS Goal Sync' \(pid \d+.*waiting up to 10s")
    # paused, its 10 s wait cannot run out before we kill the first run; once resumed it
    # tries the lock before it looks at the clock
    waiting.signal(signal.SIGSTOP)

    # a third one, in this process, gives up after its bounded wait and names the holder
    monkeypatch.setattr(cli, "RUN_LOCK_WAIT_SECONDS", 1.0)
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(database))
    started = time.monotonic()
    assert cli.main(["run"]) == cli.EXIT_FAILED
    assert time.monotonic() - started < 8
    error = capsys.readouterr().err
    assert re.search(
        rf"error: the database .*goalsync\.duckdb is busy: goalsync manual run of chain "
        rf"'CS Goal Sync' \(pid {first.process.pid}, started .* UTC\) holds it; waited 1s",
        error.replace("\n", " "),
    ), error
    assert first.process.poll() is None and waiting.process.poll() is None


def test_kill_9_during_extraction_leaves_the_database_as_it_was(
    sandbox, database, baseline, children
):
    first, waiting = children["extraction"], children["load"]
    first.kill()  # the waiting run is paused: it cannot take the database while we look
    assert snapshot(database) == baseline  # raw tables, goals, cursor state
    assert runs(database)[-1][1] == "Running"  # the killed run's row, closed by the next run
    assert pending_packages(database) == []
    assert partial_extractions(database)  # what it had extracted, never loaded
    assert TOKEN not in first.output
    waiting.signal(signal.SIGCONT)


def test_kill_9_during_the_load_leaves_a_package_the_next_run_completes(
    sandbox, database, baseline, children
):
    loading = children["load"]
    dbt_victim = children["dbt"] = Orchestrate(env_for(database, sandbox))
    paused = False
    deadline = time.monotonic() + 120
    while not loading.seen(r"read \d+ records; loading what is new into ecosystems_raw"):
        assert time.monotonic() < deadline and loading.process.poll() is None, loading.output
        if not paused and dbt_victim.seen(r"holds the database; waiting up to"):
            dbt_victim.signal(signal.SIGSTOP)  # its bounded wait must not run out meanwhile
            paused = True
        time.sleep(0.005)
    first_completed_load_job(database)
    dbt_victim.signal(signal.SIGSTOP)  # before the kill, so it cannot take the database yet
    loading.kill()
    assert pending_packages(database), "the kill came after the load finished"
    assert partial_extractions(database) == []  # dropped by this run before it extracted
    assert "dropped the unfinished extraction of an interrupted run" in loading.output
    statuses = runs(database)
    assert statuses[-2][1:] == ("Failed", INTERRUPTED)  # the run killed in extraction
    assert statuses[-1][1] == "Running"
    assert goals(database) == baseline["goals"]  # dbt never ran
    for rows in raw_tables(database).values():
        assert len({row[0] for row in rows}) == len(rows)  # a half load duplicates nothing
    assert TOKEN not in loading.output
    dbt_victim.signal(signal.SIGCONT)


def test_kill_9_during_dbt_build_after_the_interrupted_load_was_completed(
    sandbox, database, clean, children
):
    building = children["dbt"]
    building.wait_for(r"completed the load of an interrupted run")
    building.wait_for(r"dbt \w+: success")
    building.kill()
    statuses = runs(database)
    assert statuses[-2][1:] == ("Failed", INTERRUPTED)  # the run killed in the load
    run_id = statuses[-1][0]
    stages = query(database, "select stage from activity.run_stages where run_id = ?", [run_id])
    assert stages == [("extract",)]  # killed after extraction, inside the transform
    assert pending_packages(database) == []
    assert raw_tables(database) == clean[1]["raw"]  # nothing lost, nothing twice
    assert TOKEN not in building.output


def test_the_next_run_recovers_by_itself_with_nothing_lost_or_duplicated(
    database, sandbox, clean, monkeypatch
):
    for name, value in env_for(database, sandbox).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["run"]) == cli.EXIT_OK
    statuses = runs(database)
    assert statuses[-2][1:] == ("Failed", INTERRUPTED)  # the run killed in dbt
    assert [status for _, status, _ in statuses].count("Running") == 0
    assert [message for *_, message in statuses].count(INTERRUPTED) == 3
    assert statuses[-1][1] in ("Success", "Partial Success")
    assert result(database) == clean[1]
