"""The orchestrator's one way into the DuckDB file: short-lived connections and a run lock."""

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from .errors import ConfigError


class DatabaseBusy(ConfigError):
    """Another goalsync process holds the database."""


@contextmanager
def connect(database: Path, must_exist: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection closed on exit, so dlt and dbt can open the same file in between.

    Always read-write: DuckDB refuses a read-only connection in a process that already
    holds the file read-write (dbt keeps its connection), and a writer elsewhere locks
    readers out anyway.
    """
    if must_exist and not database.exists():
        raise ConfigError(
            f"no database at {database}: run `uv run orchestrate.py` first "
            "(or set GOALSYNC_DUCKDB_PATH to an existing file)"
        )
    _ensure_writable_folder(database)
    try:
        connection = duckdb.connect(str(database))
    except duckdb.IOException as error:
        raise ConfigError(_explain_open_failure(database, error)) from None
    except duckdb.SerializationException as error:
        raise ConfigError(_explain_open_failure(database, error)) from None
    try:
        yield connection
    finally:
        connection.close()


def _ensure_writable_folder(database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the folder for the database {database} ({error.strerror}): "
            "set GOALSYNC_DUCKDB_PATH to a writable location"
        ) from None
    if not os.access(database.parent, os.W_OK) or (
        database.exists() and not os.access(database, os.W_OK)
    ):
        raise ConfigError(
            f"the database {database} is not writable: fix its permissions or set "
            "GOALSYNC_DUCKDB_PATH to a writable location"
        )


def _explain_open_failure(database: Path, error: Exception) -> str:
    text = str(error).splitlines()[0]
    if "version" in text.lower() or "serializ" in text.lower():
        return (
            f"the database {database} was written by another DuckDB version ({text}): "
            "export it with that version or delete it to rebuild from the API"
        )
    if "lock" in text.lower():
        return f"the database {database} is in use by another process ({text})"
    return f"cannot open the database {database}: {text}"


def table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def lock_path(database: Path) -> Path:
    return database.parent / f".{database.name}.lock"


@contextmanager
def exclusive_run(database: Path, holder: str, wait_seconds: float = 10.0) -> Iterator[None]:
    """Hold the database for one run; a second run waits a bounded time, then names the holder."""
    _ensure_writable_folder(database)
    path = lock_path(database)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    current = handle.read().strip() or "another goalsync process"
                    raise DatabaseBusy(
                        f"the database {database} is busy: {current} holds it; "
                        "wait for it to finish, then run again"
                    ) from None
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
