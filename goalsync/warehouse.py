"""The orchestrator's one way into the DuckDB file: short-lived connections and a run lock."""

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from .errors import ConfigError, first_line

logger = logging.getLogger(__name__)

MEMORY_LIMIT_ENV = "GOALSYNC_DUCKDB_MEMORY_LIMIT"
# DuckDB's own default is 80 % of the machine; past this it spills to a temp folder instead
DEFAULT_MEMORY_LIMIT = "512MB"


class DatabaseBusy(Exception):
    """Another process holds the database; the run did not start (exit status 1)."""


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
    except duckdb.Error as error:
        raise _open_failure(database, error) from None
    try:
        _apply_memory_limit(connection)
        yield connection
    finally:
        connection.close()


def memory_limit() -> str:
    """DuckDB's memory limit for every connection of a run: dlt's, dbt's and the orchestrator's."""
    return os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT


def _apply_memory_limit(connection: duckdb.DuckDBPyConnection) -> None:
    limit = memory_limit()
    try:
        connection.execute(f"set memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error:
        raise ConfigError(
            f"{MEMORY_LIMIT_ENV}={limit!r} is not a DuckDB memory size: use e.g. 512MB or 2GB"
        ) from None


def _ensure_writable_folder(database: Path) -> None:
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


def _open_failure(database: Path, error: duckdb.Error) -> Exception:
    """One line naming the file and the fix; the file itself is never changed."""
    text = first_line(error) or type(error).__name__
    lowered = text.lower()
    if "lock" in lowered:
        holder = _lock_holder(database) or f"another process ({text})"
        return DatabaseBusy(
            f"the database {database} is in use by {holder}: wait for it to finish, then run again"
        )
    if "version" in lowered:
        return ConfigError(
            f"the database {database} was written by another DuckDB version ({text}): "
            "open it with that version and EXPORT DATABASE, or move it away and run again "
            "to rebuild it from the API"
        )
    if "not a valid duckdb database" in lowered or "corrupt" in lowered:
        return ConfigError(
            f"{database} is not a readable DuckDB database ({text}): move it away or set "
            "GOALSYNC_DUCKDB_PATH to another file; the next run builds a new database there"
        )
    return ConfigError(
        f"cannot open the database {database} ({text}): check the file, or set "
        "GOALSYNC_DUCKDB_PATH to another location"
    )


def quote_identifier(identifier: str) -> str:
    """A name as SQL reads it, whatever characters it holds."""
    return '"' + identifier.replace('"', '""') + '"'


def quoted_relation(schema: str, name: str) -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(name)}"


def table_exists(
    connection: duckdb.DuckDBPyConnection, schema: str, table: str, views_too: bool = True
) -> bool:
    """Whether the relation exists; with `views_too=False`, only as a base table."""
    only_tables = "" if views_too else " and table_type = 'BASE TABLE'"
    found = connection.execute(
        "select count(*) from information_schema.tables "
        f"where table_schema = ? and table_name = ?{only_tables}",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def lock_path(database: Path) -> Path:
    return database.parent / f".{database.name}.lock"


def _lock_holder(database: Path) -> str | None:
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
    _ensure_writable_folder(database)
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
