"""Foreground cron scheduler: fires scheduled chains and jobs one at a time, in this process.

A chain's schedule overrides the schedules of its jobs: a job that belongs to a chain with a
schedule never fires on its own schedule, only as part of that chain, so it never runs twice
at the same time or out of the chain's order. A job whose chains are all on demand keeps its
own schedule.
"""

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from croniter import croniter

from .clock import utc_now
from .errors import first_line
from .jobs_config import JobsConfig

TargetKind = Literal["chain", "job"]
ScheduleType = Literal["Scheduled", "On Demand"]
RunTarget = Callable[[str, str, str], object]
"""Runs one target: (kind 'chain' | 'job', name, trigger 'schedule'); may raise."""

SCHEDULE_TRIGGER = "schedule"
# longest single sleep: a stop request or a changed clock is noticed within this time
SLEEP_STEP_SECONDS = 1.0


@dataclass(frozen=True)
class ScheduledTarget:
    kind: TargetKind
    name: str
    cron: str

    def next_after(self, instant: datetime) -> datetime:
        """The first firing strictly after `instant`, in UTC."""
        return croniter(self.cron, instant.astimezone(UTC)).get_next(datetime).astimezone(UTC)


class Scheduler:
    """Fires what became due since the last check; never two targets at once."""

    def __init__(
        self,
        config: JobsConfig,
        run_target: RunTarget,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self._run_target = run_target
        self._clock = clock
        self._sleep = sleep
        self._log = log
        self.targets = _scheduled_targets(config)
        self._last_check = self._now()
        self._stop_requested = False
        self._running = False

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def request_stop(self) -> None:
        """Stop after the running target (if any) finishes."""
        self._stop_requested = True

    def overridden_jobs(self) -> dict[str, str]:
        """Jobs whose own schedule is ignored, mapped to the scheduled chain that runs them."""
        overridden = {}
        for job in self.config.jobs.values():
            chain = _first_scheduled_chain(self.config, job.name)
            if job.schedule is not None and chain is not None:
                overridden[job.name] = chain
        return overridden

    def due_targets(self, since: datetime, until: datetime) -> list[ScheduledTarget]:
        """Targets with a firing in (since, until], each once, earliest first."""
        due = []
        for target in self.targets:
            first = target.next_after(since)
            if first <= until.astimezone(UTC):
                due.append((first, target))
        due.sort(key=lambda pair: pair[0])
        return [target for _, target in due]

    def run_pending(self) -> list[ScheduledTarget]:
        """Fire, one by one, every target that became due since the previous check."""
        if self._running:
            return []  # re-entered (e.g. from a callback): the running check covers it
        now = self._now()
        due = self.due_targets(self._last_check, now)
        # runs missed while these run are due at the next check, once each: no backlog storm
        self._last_check = now
        fired = []
        self._running = True
        try:
            for target in due:
                if self._stop_requested:
                    break
                self._fire(target)
                fired.append(target)
        finally:
            self._running = False
        return fired

    def next_due(self) -> datetime | None:
        """When the next check has something to fire."""
        upcoming = [target.next_after(self._last_check) for target in self.targets]
        return min(upcoming, default=None)

    def run_forever(self) -> None:
        """Check, sleep in short steps until the next firing, repeat until a stop request."""
        if not self.targets:
            self._log("nothing is scheduled: set a `schedule` on a job or chain in jobs.yml")
            return
        for target in self.targets:
            self._log(
                f"{target.kind} '{target.name}' scheduled '{target.cron}' (UTC), "
                f"next run {_shown(target.next_after(self._now()))}"
            )
        for job, chain in self.overridden_jobs().items():
            self._log(f"job '{job}' runs with scheduled chain '{chain}', not on its own schedule")
        with self._stop_on_signals():
            while not self._stop_requested:
                self.run_pending()
                wake = self.next_due()
                while wake is not None and not self._stop_requested:
                    remaining = (wake - self._now()).total_seconds()
                    if remaining <= 0:
                        break
                    self._sleep(min(remaining, SLEEP_STEP_SECONDS))
        self._log("scheduler stopped")

    def next_run(self, name: str, kind: TargetKind = "job") -> datetime | None:
        """When `name` next runs from a schedule (for a job: on its own or with its chain)."""
        now = self._now()
        runs = [
            target.next_after(now)
            for target in self.targets
            if (target.kind, target.name) == (kind, name)
            or (kind == "job" and target.kind == "chain" and self._chain_has_job(target, name))
        ]
        return min(runs, default=None)

    def schedule_type(self, name: str, kind: TargetKind = "job") -> ScheduleType:
        return "Scheduled" if self.next_run(name, kind) is not None else "On Demand"

    def _chain_has_job(self, target: ScheduledTarget, job_name: str) -> bool:
        return job_name in self.config.chains[target.name].jobs

    def _fire(self, target: ScheduledTarget) -> None:
        self._log(f"{_shown(self._now())}  {target.kind} '{target.name}' started by schedule")
        try:
            self._run_target(target.kind, target.name, SCHEDULE_TRIGGER)
        except Exception as error:  # one failed run must not stop the schedules of the others
            reason = first_line(error)
            self._log(
                f"{_shown(self._now())}  {target.kind} '{target.name}' failed: "
                f"{type(error).__name__}{f': {reason}' if reason else ''}"
            )

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM set the stop flag; a second SIGINT interrupts the running target."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        for signum in previous:
            signal.signal(signum, self._on_stop_signal)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        if self._stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.request_stop()
        self._log(
            f"{signal.Signals(signum).name} received: stopping after the running target finishes "
            "(press Ctrl-C again to interrupt it)"
        )


def _scheduled_targets(config: JobsConfig) -> tuple[ScheduledTarget, ...]:
    chains = tuple(
        ScheduledTarget("chain", chain.name, chain.schedule)
        for chain in config.chains.values()
        if chain.schedule is not None
    )
    jobs = tuple(
        ScheduledTarget("job", job.name, job.schedule)
        for job in config.jobs.values()
        if job.schedule is not None and _first_scheduled_chain(config, job.name) is None
    )
    return chains + jobs


def _first_scheduled_chain(config: JobsConfig, job_name: str) -> str | None:
    for chain in config.chains_containing(job_name):
        if chain.schedule is not None:
            return chain.name
    return None


def _shown(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
