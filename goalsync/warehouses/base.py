"""What every destination engine gives the orchestrator, and the SQL helpers all engines share."""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol


class DatabaseBusy(Exception):
    """Another process holds the database; the run did not start (exit status 1)."""


class Session(Protocol):
    """The orchestrator's connection: `execute(sql, params)` with `?` placeholders, then
    `fetchone()` / `fetchall()` / `description` on what it returns (DuckDB's shape)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class Warehouse(Protocol):
    """One engine: where dlt loads the raw tables, which dbt target builds the models, and
    the session the orchestrator keeps its activity tables in and reads through.

    `workspace` is the local DuckDB path (GOALSYNC_DUCKDB_PATH) on every engine: the run lock,
    dlt's pipelines folder, the disk reserve and the row snapshot live beside it. Whether the
    data and the activity tables share one catalog is the engine's business, behind `connect`.
    """

    name: str
    dbt_adapter: str
    """The dbt adapter's distribution: its version is part of what a build read."""
    row_hash_type: str
    """The SQL type of `row_hash_sql`'s value."""
    loader_file_format: str
    """What dlt writes the extracted pages as before loading them."""

    def connect(self, workspace: Path, must_exist: bool = False) -> AbstractContextManager[Any]:
        """A session closed on exit; `must_exist`: refuse to create a database that is absent."""
        ...

    def exists(self, workspace: Path) -> bool:
        """Whether there is a database to read (False before the first run)."""
        ...

    def dlt_destination(self, workspace: Path) -> Any:
        """dlt's destination for the raw tables, credentials resolved."""
        ...

    def dbt_environment(self, workspace: Path) -> dict[str, str]:
        """The variables the dbt target of `name` reads with `env_var()`, for one invocation."""
        ...

    def settings(self, workspace: Path) -> list[tuple[str, str]]:
        """(setting, value) lines for people; secrets masked."""
        ...

    def check(self, workspace: Path) -> str:
        """One line saying the destination answers; raises ConfigError naming what to fix."""
        ...

    def row_hash_sql(self, columns: Sequence[str]) -> str:
        """An expression hashing the (quoted) columns of a row, for counting changed rows."""
        ...

    def save_snapshot(self, session: Any, rows_sql: str, snapshot: Path) -> None:
        """Keep the rows of `rows_sql` (row_key, row_hash) until `drop_snapshot`."""
        ...

    def snapshot_relation(self, snapshot: Path) -> str:
        """What a query reads the saved snapshot from."""
        ...

    def drop_snapshot(self, session: Any, snapshot: Path) -> None: ...


def quote_identifier(identifier: str) -> str:
    """A name as SQL reads it, whatever characters it holds."""
    return '"' + identifier.replace('"', '""') + '"'


def quoted_relation(schema: str, name: str) -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(name)}"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_exists(connection: Session, schema: str, table: str, views_too: bool = True) -> bool:
    """Whether the relation exists; with `views_too=False`, only as a base table."""
    only_tables = "" if views_too else " and table_type = 'BASE TABLE'"
    found = connection.execute(
        "select count(*) from information_schema.tables "
        f"where table_schema = ? and table_name = ?{only_tables}",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])
