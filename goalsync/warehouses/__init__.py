"""The destination engine of a run, picked by GOALSYNC_DESTINATION (default: duckdb).

One module per engine implements `base.Warehouse`; the rest of goalsync reaches the engine
only through `current()` and the helpers here.
"""

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import (
    DatabaseBusy,
    Session,
    Warehouse,
    quote_identifier,
    quoted_relation,
    sql_literal,
    table_exists,
)
from .workspace import exclusive_run, lock_path

DESTINATION_ENV = "GOALSYNC_DESTINATION"
DEFAULT_DESTINATION = "duckdb"
# imported only when picked: an engine's client library loads with it
ENGINES = {"duckdb": "duckdb", "postgres": "postgres"}

__all__ = [
    "DESTINATION_ENV",
    "DatabaseBusy",
    "Session",
    "Warehouse",
    "connect",
    "current",
    "destination_name",
    "exclusive_run",
    "exists",
    "lock_path",
    "quote_identifier",
    "quoted_relation",
    "sql_literal",
    "table_exists",
]


def destination_name() -> str:
    """The engine GOALSYNC_DESTINATION names; an unknown name is a configuration error."""
    name = os.environ.get(DESTINATION_ENV, "").strip().lower() or DEFAULT_DESTINATION
    if name not in ENGINES:
        raise ConfigError(
            f"{DESTINATION_ENV}={name!r} is not a known destination: "
            f"use one of {', '.join(ENGINES)}"
        )
    return name


def current() -> Warehouse:
    """The engine of this run."""
    module = importlib.import_module(f"{__name__}.{ENGINES[destination_name()]}")
    return module.WAREHOUSE


@contextmanager
def connect(workspace: Path, must_exist: bool = False) -> Iterator[Any]:
    """The orchestrator's session with the run's engine, closed on exit."""
    with current().connect(workspace, must_exist) as session:
        yield session


def exists(workspace: Path) -> bool:
    """Whether the run's engine has a database to read yet."""
    return current().exists(workspace)
