"""The foreground scheduler with a fake clock and fake sleep: nothing here really waits."""

import os
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from goalsync.jobs_config import CS_GOAL_SYNC, ChainSpec, JobsConfig
from goalsync.scheduler import SLEEP_STEP_SECONDS, ScheduledTarget, Scheduler

START = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        if len(self.sleeps) > 100_000:
            raise AssertionError("the scheduler never stopped")
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


class Runs:
    """A fake engine: records (clock time, kind, name, trigger) and can act while it runs."""

    def __init__(self, clock: FakeClock, during=None) -> None:
        self.clock = clock
        self.during = during
        self.calls: list[tuple[datetime, str, str, str]] = []
        self.running = False
        self.overlaps = 0  # counted, not asserted: the scheduler survives any exception

    def __call__(self, kind: str, name: str, trigger: str) -> str:
        self.overlaps += self.running
        self.running = True
        try:
            self.calls.append((self.clock(), kind, name, trigger))
            if self.during is not None:
                self.during(kind, name)
            return "Success"
        finally:
            self.running = False

    @property
    def fired(self) -> list[tuple[str, str]]:
        return [(kind, name) for _, kind, name, _ in self.calls]


def job(name: str, schedule: str | None = None):
    return replace(CS_GOAL_SYNC, name=name, locked=False, schedule=schedule)


def make_config(jobs, chains) -> JobsConfig:
    return JobsConfig(
        jobs={spec.name: spec for spec in jobs},
        chains={chain.name: chain for chain in chains},
        path=Path("jobs.yml"),
    )


# Nightly (chain, 07:00) overrides Goals' own 5-minute schedule; Summary keeps its own.
CONFIG = make_config(
    [job("Goals", "*/5 * * * *"), job("Summary", "0 * * * *"), job("Adhoc")],
    [
        ChainSpec("Nightly", ("Goals",), "0 7 * * *"),
        ChainSpec("Manual", ("Summary", "Adhoc"), None),
    ],
)


def make_scheduler(config: JobsConfig = CONFIG, during=None, clock: FakeClock | None = None):
    clock = clock or FakeClock()
    runs = Runs(clock, during)
    lines: list[str] = []
    scheduler = Scheduler(config, runs, clock=clock, sleep=clock.sleep, log=lines.append)
    return scheduler, clock, runs, lines


def test_a_chain_schedule_overrides_the_schedules_of_its_jobs():
    scheduler, *_ = make_scheduler()

    assert scheduler.targets == (
        ScheduledTarget("chain", "Nightly", "0 7 * * *"),
        ScheduledTarget("job", "Summary", "0 * * * *"),
    )
    assert scheduler.overridden_jobs() == {"Goals": "Nightly"}


def test_due_targets_lists_each_target_once_earliest_first():
    scheduler, *_ = make_scheduler()

    assert scheduler.due_targets(at(6, 30), at(7, 0)) == [
        ScheduledTarget("chain", "Nightly", "0 7 * * *"),
        ScheduledTarget("job", "Summary", "0 * * * *"),
    ]
    # several hourly firings in the window still make one run
    assert [t.name for t in scheduler.due_targets(at(7, 0), at(11, 0))] == ["Summary"]
    # the start of the window is excluded, its end included
    assert scheduler.due_targets(at(7, 0), at(7, 59)) == []
    assert [t.name for t in scheduler.due_targets(at(5, 59), at(6, 0))] == ["Summary"]


def test_next_run_and_schedule_type_follow_the_effective_schedule():
    scheduler, *_ = make_scheduler()

    assert scheduler.next_run("Goals") == at(7, 0)  # with its chain, not every 5 minutes
    assert scheduler.next_run("Summary") == at(7, 0)
    assert scheduler.next_run("Nightly", kind="chain") == at(7, 0)
    assert scheduler.next_run("Adhoc") is None
    assert scheduler.next_run("Manual", kind="chain") is None
    assert scheduler.schedule_type("Goals") == "Scheduled"
    assert scheduler.schedule_type("Adhoc") == "On Demand"
    assert scheduler.schedule_type("Manual", kind="chain") == "On Demand"


def test_run_pending_fires_what_became_due_once_each():
    scheduler, clock, runs, lines = make_scheduler()

    assert scheduler.run_pending() == []
    clock.now = at(7, 0)
    fired = scheduler.run_pending()
    assert [target.name for target in fired] == ["Nightly", "Summary"]
    assert runs.calls == [
        (at(7, 0), "chain", "Nightly", "schedule"),
        (at(7, 0), "job", "Summary", "schedule"),
    ]
    assert scheduler.run_pending() == []  # same instant again: no double run
    clock.now = at(7, 30)
    assert scheduler.run_pending() == []
    assert lines == [
        "2026-03-02 07:00:00Z  chain 'Nightly' started by schedule",
        "2026-03-02 07:00:00Z  job 'Summary' started by schedule",
    ]


def test_runs_missed_during_a_long_run_fire_once_afterwards():
    def long_chain(kind, name):
        if name == "Nightly":
            clock.now += timedelta(hours=3, minutes=10)

    scheduler, clock, runs, _ = make_scheduler(during=long_chain)
    clock.now = at(7, 0)
    scheduler.run_pending()
    assert runs.fired == [("chain", "Nightly"), ("job", "Summary")]

    scheduler.run_pending()  # 10:10: Summary missed 08:00, 09:00 and 10:00

    assert runs.fired == [("chain", "Nightly"), ("job", "Summary"), ("job", "Summary")]


def test_a_failing_target_is_logged_and_the_others_still_run():
    def failing(kind, name):
        if name == "Nightly":
            raise RuntimeError("dbt build failed\ntraceback details")

    scheduler, clock, runs, lines = make_scheduler(during=failing)
    clock.now = at(7, 0)

    scheduler.run_pending()
    clock.now = at(8, 0)
    scheduler.run_pending()

    assert runs.fired == [("chain", "Nightly"), ("job", "Summary"), ("job", "Summary")]
    assert "2026-03-02 07:00:00Z  chain 'Nightly' failed: RuntimeError: dbt build failed" in lines
    assert not any("traceback" in line for line in lines)


def test_a_target_never_starts_while_another_runs():
    nested: list = []

    def reenter(kind, name):
        if name == "Nightly":  # once: a broken guard must not recurse forever
            clock.now += timedelta(hours=2)
            nested.append(scheduler.run_pending())

    scheduler, clock, runs, lines = make_scheduler(during=reenter)
    clock.now = at(7, 0)

    scheduler.run_pending()

    assert runs.fired == [("chain", "Nightly"), ("job", "Summary")]
    assert runs.overlaps == 0 and nested == [[]]
    assert not any("failed" in line for line in lines)


def test_run_forever_sleeps_in_short_steps_until_each_firing():
    def stop_after_two(kind, name):
        if len(runs.calls) == 2:
            scheduler.request_stop()

    only_hourly = make_config([job("Summary", "0 * * * *")], [])
    scheduler, clock, runs, lines = make_scheduler(only_hourly, during=stop_after_two)

    scheduler.run_forever()

    assert runs.calls == [
        (at(7, 0), "job", "Summary", "schedule"),
        (at(8, 0), "job", "Summary", "schedule"),
    ]
    assert clock.sleeps and max(clock.sleeps) <= SLEEP_STEP_SECONDS
    assert lines[-1] == "scheduler stopped"


def test_stop_request_lets_the_running_target_finish_and_fires_nothing_more():
    def stop_during_first(kind, name):
        scheduler.request_stop()

    scheduler, _, runs, _ = make_scheduler(during=stop_during_first)

    scheduler.run_forever()

    assert runs.fired == [("chain", "Nightly")]  # Summary was due too, but stop came first


def test_sigterm_stops_the_loop_after_the_running_target_and_restores_handlers():
    def terminate(kind, name):
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    scheduler, clock, runs, lines = make_scheduler(during=terminate)

    scheduler.run_forever()

    assert runs.fired == [("chain", "Nightly")]
    assert scheduler.stop_requested
    assert any(line.startswith("SIGTERM received: stopping") for line in lines)
    assert signal.getsignal(signal.SIGTERM) == previous


def test_a_second_ctrl_c_interrupts_the_running_target():
    def interrupt_twice(kind, name):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.getsignal(signal.SIGINT)
    scheduler, *_ = make_scheduler(during=interrupt_twice)

    with pytest.raises(KeyboardInterrupt):
        scheduler.run_forever()
    assert signal.getsignal(signal.SIGINT) == previous


def test_run_forever_with_nothing_scheduled_returns_at_once():
    on_demand = make_config([job("Adhoc")], [ChainSpec("Manual", ("Adhoc",), None)])
    scheduler, clock, runs, lines = make_scheduler(on_demand)

    scheduler.run_forever()

    assert runs.calls == [] and clock.sleeps == []
    assert lines == ["nothing is scheduled: set a `schedule` on a job or chain in jobs.yml"]
