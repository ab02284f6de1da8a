"""Process faults: real `orchestrate.py` processes, killed with SIGKILL during extraction,
during the load and during `dbt build`, and two runs at once. Each next run recovers by
itself; the last one ends exactly where a run that never failed ends.

The processes follow each other, so one module fixture plays the whole story once and
keeps what it saw at each step; each test checks one step and stands alone. A run waiting
for the database is paused (SIGSTOP) while the story looks at the database after a kill,
then resumed (SIGCONT).
"""

import contextlib
import io
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class Story:
    """What was seen at each step, in the order it happened."""

    database: Path
    clean: dict
    baseline: dict
    pids: dict[str, int] = field(default_factory=dict)
    seen: dict[str, dict] = field(default_factory=dict)


def unique_ids(database: Path) -> bool:
    return all(len({row[0] for row in rows}) == len(rows) for rows in raw_tables(database).values())


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Story:
    root = tmp_path_factory.getbasetemp()
    clean = clean_run(1, root)[1]
    folder = tmp_path_factory.mktemp("process")
    database = copy_database(clean_run(0, root)[0], folder / "goalsync.duckdb")
    told = Story(database, clean, snapshot(database))
    started: list[Orchestrate] = []
    try:
        with mutated_sandbox(1) as sandbox:
            play(told, sandbox, started)
    finally:
        for child in started:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
    return told


def play(story: Story, sandbox, started: list[Orchestrate]) -> None:
    database = story.database
    env = run_environment(database, sandbox.base_url)

    def orchestrate(**extra: str) -> Orchestrate:
        started.append(Orchestrate({**env, **extra}))
        return started[-1]

    # 1. the first run hangs on the API (long timeout), holding the database in extraction
    sandbox.set_faults(Fault("hang", seconds=300, endpoint="kpis", from_page=2))
    first = orchestrate(SOURCES__ECOSYSTEMS__REQUEST_TIMEOUT="300")
    first.wait_for(r"kpis: 1 pages")
    deadline = time.monotonic() + 60
    while sandbox.stats()["faults_fired"] < 1:
        assert time.monotonic() < deadline and first.process.poll() is None, first.output
        time.sleep(0.05)
    # a second process waits for the lock (the one that will recover)
    loading = orchestrate()
    loading.wait_for(r"goalsync manual run of chain 'CS Goal Sync' \(pid \d+.*waiting up to 10s")
    # paused, its 10 s wait cannot run out before the first run is killed; once resumed it
    # tries the lock before it looks at the clock
    loading.signal(signal.SIGSTOP)
    # a third one, in this process, gives up after its bounded wait and names the holder
    errors = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(errors):
        patch.setattr(cli, "RUN_LOCK_WAIT_SECONDS", 1.0)
        for name, value in env.items():
            patch.setenv(name, value)
        started_at = time.monotonic()
        status = cli.main(["run"])
    story.pids["first"] = first.process.pid
    story.seen["bounded wait"] = {
        "status": status,
        "seconds": time.monotonic() - started_at,
        "error": errors.getvalue(),
        "both alive": first.process.poll() is None and loading.process.poll() is None,
    }

    # 2. kill -9 during the extraction; the waiting run is paused while we look
    first.kill()
    story.seen["killed in extraction"] = {
        "snapshot": snapshot(database),
        "last run": runs(database)[-1][1],
        "pending": pending_packages(database),
        "partial": partial_extractions(database),
        "output": first.output,
    }
    loading.signal(signal.SIGCONT)

    # 3. kill -9 during the load; the next run waits for the lock, paused
    building = orchestrate()
    paused = False
    deadline = time.monotonic() + 120
    while not loading.seen(r"read \d+ records; loading what is new into ecosystems_raw"):
        assert time.monotonic() < deadline and loading.process.poll() is None, loading.output
        if not paused and building.seen(r"holds the database; waiting up to"):
            building.signal(signal.SIGSTOP)  # its bounded wait must not run out meanwhile
            paused = True
        time.sleep(0.005)
    first_completed_load_job(database)
    building.signal(signal.SIGSTOP)  # before the kill, so it cannot take the database yet
    loading.kill()
    story.seen["killed in the load"] = {
        "pending": pending_packages(database),
        "partial": partial_extractions(database),
        "runs": runs(database),
        "goals": goals(database),
        "unique ids": unique_ids(database),
        "output": loading.output,
    }
    building.signal(signal.SIGCONT)

    # 4. kill -9 during dbt build, after the interrupted load was completed
    building.wait_for(r"completed the load of an interrupted run")
    building.wait_for(r"dbt \w+: success")
    building.kill()
    statuses = runs(database)
    stages = query(
        database, "select stage from activity.run_stages where run_id = ?", [statuses[-1][0]]
    )
    story.seen["killed in dbt"] = {
        "runs": statuses,
        "stages": stages,
        "pending": pending_packages(database),
        "raw": raw_tables(database),
        "output": building.output,
    }

    # 5. the next run, in this process, recovers by itself
    sandbox.set_faults()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        status = cli.main(["run"])
    story.seen["recovered"] = {"status": status, "runs": runs(database), "result": result(database)}


def test_a_second_run_waits_a_bounded_time_then_names_the_run_holding_the_database(story):
    seen = story.seen["bounded wait"]
    assert seen["status"] == cli.EXIT_FAILED and seen["seconds"] < 8
    assert re.search(
        rf"error: the database .*goalsync\.duckdb is busy: goalsync manual run of chain "
        rf"'CS Goal Sync' \(pid {story.pids['first']}, started .* UTC\) holds it; waited 1s",
        seen["error"].replace("\n", " "),
    ), seen["error"]
    assert seen["both alive"]


def test_kill_9_during_extraction_leaves_the_database_as_it_was(story):
    seen = story.seen["killed in extraction"]
    assert seen["snapshot"] == story.baseline  # raw tables, goals, cursor state
    assert seen["last run"] == "Running"  # the killed run's row, closed by the next run
    assert seen["pending"] == []
    assert seen["partial"]  # what it had extracted, never loaded
    assert TOKEN not in seen["output"]


def test_kill_9_during_the_load_leaves_a_package_the_next_run_completes(story):
    seen = story.seen["killed in the load"]
    assert seen["pending"], "the kill came after the load finished"
    assert seen["partial"] == []  # dropped by this run before it extracted
    assert "dropped the unfinished extraction of an interrupted run" in seen["output"]
    assert seen["runs"][-2][1:] == ("Failed", INTERRUPTED)  # the run killed in extraction
    assert seen["runs"][-1][1] == "Running"
    assert seen["goals"] == story.baseline["goals"]  # dbt never ran
    assert seen["unique ids"]  # a half load duplicates nothing
    assert TOKEN not in seen["output"]


def test_kill_9_during_dbt_build_after_the_interrupted_load_was_completed(story):
    seen = story.seen["killed in dbt"]
    assert seen["runs"][-2][1:] == ("Failed", INTERRUPTED)  # the run killed in the load
    assert seen["stages"] == [("extract",)]  # killed after extraction, inside the transform
    assert seen["pending"] == []
    assert seen["raw"] == story.clean["raw"]  # nothing lost, nothing twice
    assert TOKEN not in seen["output"]


def test_the_next_run_recovers_by_itself_with_nothing_lost_or_duplicated(story):
    seen = story.seen["recovered"]
    assert seen["status"] == cli.EXIT_OK
    statuses = seen["runs"]
    assert statuses[-2][1:] == ("Failed", INTERRUPTED)  # the run killed in dbt
    assert [status for _, status, _ in statuses].count("Running") == 0
    assert [message for *_, message in statuses].count(INTERRUPTED) == 3
    assert statuses[-1][1] in ("Success", "Partial Success")
    assert seen["result"] == story.clean
