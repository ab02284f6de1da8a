"""The run's local workspace beside GOALSYNC_DUCKDB_PATH, whatever the engine: its run lock."""

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError
from .base import DatabaseBusy

logger = logging.getLogger(__name__)


def ensure_writable_folder(database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the folder for the database {database} ({error.strerror}): "
            "set GOALSYNC_DUCKDB_PATH to a writable location"
        ) from None
    if os.statvfs(database.parent).f_flag & os.ST_RDONLY:
        raise ConfigError(
            f"the database folder {database.parent} is on a read-only file system: "
            "set GOALSYNC_DUCKDB_PATH to a writable location"
        )
    if not os.access(database.parent, os.W_OK) or (
        database.exists() and not os.access(database, os.W_OK)
    ):
        raise ConfigError(
            f"the database {database} is not writable: fix its permissions or set "
            "GOALSYNC_DUCKDB_PATH to a writable location"
        )


def lock_path(database: Path) -> Path:
    return database.parent / f".{database.name}.lock"


def lock_holder(database: Path) -> str | None:
    """Who holds the run lock, as it wrote itself there (empty when nobody runs)."""
    try:
        return lock_path(database).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


@contextmanager
def exclusive_run(database: Path, holder: str, wait_seconds: float = 10.0) -> Iterator[None]:
    """Hold the database for one run; a second run waits a bounded time, then names the holder.

    The lock is the kernel's (`flock`): a killed run never leaves it held.
    """
    ensure_writable_folder(database)
    path = lock_path(database)
    with open(path, "a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                current = handle.read().strip() or "another goalsync process"
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"the database {database} is busy: {current} holds it; "
                        f"waited {wait_seconds:g}s; wait for it to finish, then run again"
                    ) from None
                if not told:
                    logger.info(f"{current} holds the database; waiting up to {wait_seconds:g}s")
                    told = True
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(holder)
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
