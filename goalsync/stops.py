"""Stopping a run on SIGTERM or Ctrl-C: the run is recorded as Failed, nothing half-written.

The signal raises `RunStopped` in the main thread wherever the run is. dlt holds a signal
back while it normalizes or loads and then raises its own exception, and dbt turns one into
a failed result; `stop_received` tells the engine that such a failure was a stop.

A run that does not end within `STOP_GRACE_SECONDS` (a request hung in one of dlt's extract
threads, which the thread pool waits for) is ended by a watchdog: it records the run as
Failed through the callback the engine left with `recorded_if_forced`, then exits at once.
That leaves the database as a kill -9 would, which every run recovers from.
"""

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_GRACE_SECONDS = 10.0
STOPPED_HINT = (
    "the run was recorded as Failed; what it had not finished is left for the next run, "
    "as after a crash"
)

_received: int | None = None
_record_if_forced: "Callable[[RunStopped], None] | None" = None
_recording = threading.Lock()  # the engine's record of a stop and the watchdog's never overlap


class RunStopped(KeyboardInterrupt):
    """A stop signal arrived during a run (a KeyboardInterrupt, so dbt cancels its queries)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return f"stopped by signal {signal.Signals(self.signum).name}"

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def stop_received(failure: BaseException | None = None) -> RunStopped | None:
    """The stop behind `failure` (or any stop received during the run), else None."""
    if _received is not None:
        return RunStopped(_received)
    while failure is not None:
        if isinstance(failure, RunStopped):
            return failure
        signal_code = getattr(failure, "signal_code", None)  # dlt's SignalReceivedException
        if isinstance(signal_code, int) and signal_code in STOP_SIGNALS:
            return RunStopped(signal_code)
        if isinstance(failure, KeyboardInterrupt):
            return RunStopped(signal.SIGINT)
        failure = failure.__cause__ or failure.__context__
    return None


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise `RunStopped` in the main thread."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be installed from the main thread
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _received = None
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received = None


@contextmanager
def recorded_if_forced(record: "Callable[[RunStopped], None]") -> Iterator[None]:
    """While the block runs, a forced stop records the run with `record` before exiting."""
    global _record_if_forced
    with _recording:
        _record_if_forced = record
    try:
        yield
    finally:
        with _recording:  # waits while the watchdog records; it never returns from that
            _record_if_forced = None


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is None:
        _received = signum
        watchdog = threading.Timer(STOP_GRACE_SECONDS, _force_exit, args=(signum,))
        watchdog.daemon = True
        watchdog.start()
    raise RunStopped(signum)


def _force_exit(signum: int) -> None:
    """The run did not end within the grace period: record it as stopped and exit now."""
    stopped = RunStopped(signum)
    with _recording:
        if _record_if_forced is not None:
            try:
                _record_if_forced(stopped)
            finally:
                print(f"error: {stopped.reason}: {STOPPED_HINT}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(stopped.exit_status)
