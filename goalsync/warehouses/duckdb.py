"""The embedded default: one DuckDB file holds raw data, models and activity (no server)."""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from ..errors import ConfigError, first_line
from ..paths import DUCKDB_PATH_ENV
from .base import DatabaseBusy, sql_literal
from .workspace import ensure_writable_folder, lock_holder

MEMORY_LIMIT_ENV = "GOALSYNC_DUCKDB_MEMORY_LIMIT"
# DuckDB's own default is 80 % of the machine; past this it spills to a temp folder instead
DEFAULT_MEMORY_LIMIT = "512MB"


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
    ensure_writable_folder(database)
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


def _open_failure(database: Path, error: duckdb.Error) -> Exception:
    """One line naming the file and the fix; the file itself is never changed."""
    text = first_line(error) or type(error).__name__
    lowered = text.lower()
    if "lock" in lowered:
        holder = lock_holder(database) or f"another process ({text})"
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


class DuckDBWarehouse:
    """Everything in the file at GOALSYNC_DUCKDB_PATH."""

    name = "duckdb"
    dbt_adapter = "dbt-duckdb"
    row_hash_type = "ubigint"
    loader_file_format = "parquet"

    def connect(self, workspace: Path, must_exist: bool = False):
        return connect(workspace, must_exist)

    def exists(self, workspace: Path) -> bool:
        return workspace.exists()

    def dlt_destination(self, workspace: Path) -> Any:
        import dlt
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        credentials = DuckDbCredentials(str(workspace))
        credentials.global_config = {"memory_limit": memory_limit()}
        return dlt.destinations.duckdb(credentials)

    def dbt_environment(self, workspace: Path) -> dict[str, str]:
        # the profile reads both: dbt opens this database with the limit every connection has
        return {DUCKDB_PATH_ENV: str(workspace), MEMORY_LIMIT_ENV: memory_limit()}

    def settings(self, workspace: Path) -> list[tuple[str, str]]:
        return [("destination", self.name), ("database file", str(workspace))]

    def check(self, workspace: Path) -> str:
        if not workspace.exists():
            ensure_writable_folder(workspace)
            return f"{workspace} does not exist yet: the first run creates it"
        with connect(workspace) as connection:
            connection.execute("select 1").fetchone()
        return f"{workspace} opens"

    def row_hash_sql(self, columns: Sequence[str]) -> str:
        return f"hash({', '.join(columns)})"

    def save_snapshot(self, session: Any, rows_sql: str, snapshot: Path) -> None:
        # a parquet file: as a table in the database it would cost a checkpoint (1.3 s
        # against 0.5 s for a million rows)
        snapshot.unlink(missing_ok=True)
        session.execute(f"copy ({rows_sql}) to {sql_literal(str(snapshot))} (format parquet)")

    def snapshot_relation(self, snapshot: Path) -> str:
        return f"read_parquet({sql_literal(str(snapshot))})"

    def drop_snapshot(self, session: Any, snapshot: Path) -> None:
        snapshot.unlink(missing_ok=True)


WAREHOUSE = DuckDBWarehouse()
