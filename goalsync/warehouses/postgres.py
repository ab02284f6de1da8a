"""PostgreSQL: raw data, models and activity tables in one server database.

Credentials are dlt's `destination.postgres.credentials` (env or .dlt/secrets.toml), resolved
once per process; dbt's `postgres` target reads them from variables set per invocation.
"""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from dlt.common.configuration import configspec
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.configuration.specs import BaseConfiguration
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from ..errors import ConfigError, first_line, mask_token
from .base import quote_identifier, sql_literal

SECTIONS = ("destination", "postgres")
CREDENTIALS_ENV = "DESTINATION__POSTGRES__CREDENTIALS"
CONNECT_TIMEOUT_SECONDS = 10
SNAPSHOT_SCHEMA = "activity"
_FIX = (
    f"set {CREDENTIALS_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
    "or [destination.postgres.credentials] in .dlt/secrets.toml"
)
# `?` placeholders (DuckDB's) become psycopg's; a literal `%` must be doubled then
_PLACEHOLDER = re.compile(r"%|\?")


@configspec
class PostgresDestinationSettings(BaseConfiguration):
    """`[destination.postgres]` as dlt's own postgres destination resolves it."""

    credentials: PostgresCredentials = None


def credentials() -> PostgresCredentials:
    """The resolved credentials; a missing one is a configuration error naming the setting."""
    from ..connection import resolve_project_settings

    try:
        settings, _ = resolve_project_settings(PostgresDestinationSettings(), SECTIONS)
    except ConfigFieldMissingException as missing:
        fields = ", ".join(missing.fields)
        raise ConfigError(f"PostgreSQL destination: missing {fields}: {_FIX}") from None
    return settings.credentials


def _where(creds: PostgresCredentials) -> str:
    return f"{creds.host}:{creds.port or 5432}/{creds.database}"


class PostgresSession:
    """A psycopg session in DuckDB's shape: `execute(sql, [params])` with `?` placeholders."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> psycopg.Cursor:
        cursor = self._connection.cursor()
        if parameters:
            cursor.execute(_placeholders(sql), list(parameters))
        else:
            cursor.execute(sql)
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor:
        cursor = self._connection.cursor()
        cursor.executemany(_placeholders(sql), [list(row) for row in rows])
        return cursor


def _placeholders(sql: str) -> str:
    return _PLACEHOLDER.sub(lambda match: "%s" if match.group() == "?" else "%%", sql)


def _open(creds: PostgresCredentials) -> psycopg.Connection:
    try:
        return psycopg.connect(
            host=creds.host,
            port=creds.port or 5432,
            user=creds.username,
            password=creds.password,
            dbname=creds.database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options="-c TimeZone=UTC",
            # autocommit as DuckDB's: each statement commits unless inside `begin transaction`;
            # client-side binding: parameters also in `create table as select ?`
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        )
    except psycopg.OperationalError as error:
        raise open_failure(creds, error) from None


def open_failure(creds: PostgresCredentials, error: BaseException) -> ConfigError:
    """One line naming the server and what to fix; never the password."""
    text = first_line(error).removeprefix("connection failed: ")
    if creds.password:
        text = text.replace(creds.password, mask_token(creds.password))
    lowered = text.lower()
    if "password authentication failed" in lowered or "authentication" in lowered:
        return ConfigError(
            f"PostgreSQL at {_where(creds)} refused user {creds.username!r} ({text}): "
            f"fix the user or password in {CREDENTIALS_ENV}"
        )
    if "database" in lowered and "does not exist" in lowered:
        return ConfigError(
            f"PostgreSQL at {_where(creds)} has no database {creds.database!r}: create it "
            f"(createdb {creds.database}) or name another in {CREDENTIALS_ENV}"
        )
    return ConfigError(
        f"cannot reach PostgreSQL at {_where(creds)} ({text}): start the server "
        f"or fix the host and port in {CREDENTIALS_ENV}"
    )


class PostgresWarehouse:
    """Raw tables, models and the activity log in the server's database."""

    name = "postgres"
    dbt_adapter = "dbt-postgres"
    row_hash_type = "varchar"
    # COPY from CSV: dlt's insert_values would send every row as SQL text
    loader_file_format = "csv"

    @contextmanager
    def connect(self, workspace: Path, must_exist: bool = False) -> Iterator[PostgresSession]:
        connection = _open(credentials())
        try:
            yield PostgresSession(connection)
        finally:
            connection.close()

    def exists(self, workspace: Path) -> bool:
        return True

    def dlt_destination(self, workspace: Path) -> Any:
        import dlt

        return dlt.destinations.postgres(credentials=credentials())

    def dbt_environment(self, workspace: Path) -> dict[str, str]:
        creds = credentials()
        return {
            "GOALSYNC_POSTGRES_HOST": str(creds.host),
            "GOALSYNC_POSTGRES_PORT": str(creds.port or 5432),
            "GOALSYNC_POSTGRES_USER": str(creds.username),
            "GOALSYNC_POSTGRES_PASSWORD": str(creds.password or ""),
            "GOALSYNC_POSTGRES_DATABASE": str(creds.database),
            # libpq's: dbt's sessions read and write instants in UTC, as DuckDB's do
            "PGTZ": "UTC",
        }

    def settings(self, workspace: Path) -> list[tuple[str, str]]:
        creds = credentials()
        return [
            ("destination", self.name),
            ("server", f"{creds.host}:{creds.port or 5432}"),
            ("database", str(creds.database)),
            ("user", str(creds.username)),
            ("password", mask_token(str(creds.password or ""))),
            ("run workspace", str(workspace.parent)),
        ]

    def check(self, workspace: Path) -> str:
        creds = credentials()
        connection = _open(creds)
        try:
            version = connection.execute("show server_version").fetchone()[0]
        finally:
            connection.close()
        return f"PostgreSQL {version} at {_where(creds)} answers"

    def row_hash_sql(self, columns: Sequence[str]) -> str:
        # a row's text form holds every column's value (null as empty), so equal text is
        # equal content
        return f"md5(cast(row({', '.join(columns)}) as varchar))"

    def save_snapshot(self, session: Any, rows_sql: str, snapshot: Path) -> None:
        # a table in the server: the rows' hashes never leave it
        relation = self.snapshot_relation(snapshot)
        session.execute(f"drop table if exists {relation}")
        session.execute(f"create table {relation} as {rows_sql}")

    def snapshot_relation(self, snapshot: Path) -> str:
        return f"{quote_identifier(SNAPSHOT_SCHEMA)}.{quote_identifier('_row_snapshot')}"

    def drop_snapshot(self, session: Any, snapshot: Path) -> None:
        session.execute(f"drop table if exists {self.snapshot_relation(snapshot)}")


WAREHOUSE = PostgresWarehouse()

__all__ = ["WAREHOUSE", "credentials", "sql_literal"]
