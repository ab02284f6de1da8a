"""dbt, in this process (DuckDB allows one writer process): build and show through dbtRunner."""

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .paths import DBT_PROJECT_DIR
from .warehouses import current

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult


@dataclass
class DbtOutcome:
    success: bool
    message: str = ""
    nodes: list[str] = field(default_factory=list)


RUN_ID_ENV = "GOALSYNC_RUN_ID"
"""The orchestrator run a build belongs to (macros/goalsync_run_id.sql reads it)."""

NodeCallback = Callable[[str, str], None]
"""Called as each node finishes with (node name, status)."""

_FAILED = ("error", "fail", "runtime error")


def run_dbt(
    args: Sequence[str],
    database: Path,
    on_node: NodeCallback | None = None,
    environment: Mapping[str, str] | None = None,
) -> DbtOutcome:
    """Invoke `dbt <args>` against the project's database; never raises for dbt failures.

    `environment`: variables the project reads with `env_var()`, for this invocation only.
    """
    callbacks = [_node_finished_callback(on_node)] if on_node else []
    # the console gets our one-line outcome only: dbt would print a stack trace when a stop
    # interrupts it (its own lines still go to the log file)
    silent = [*args, "--log-level", "none"]
    return _outcome(args[0], _invoke(silent, database, callbacks, environment or {}))


def show_model(model: str, limit: int, database: Path) -> tuple[list[str], list[tuple]]:
    """Rows a model would produce now (`dbt show`), without materializing anything."""
    # the model alone: its data tests would read a table that may not be built yet
    command = ["show", "--select", model, "--indirect-selection", "empty", "--limit", str(limit)]
    result = _invoke(command, database, [], {})
    outcome = _outcome("show", result)
    if not outcome.success:
        raise ConfigError(
            f"preview of {model} failed: {outcome.message}; if the job has never run, "
            "run it once so the models it reads exist"
        )
    node_results = list(getattr(result.result, "results", None) or [])
    table = getattr(node_results[0], "agate_table", None) if node_results else None
    if table is None:
        return [], []
    return list(table.column_names), [tuple(row) for row in table.rows]


def _invoke(
    args: Sequence[str], database: Path, callbacks: list, environment: Mapping[str, str]
) -> "dbtRunnerResult":
    # imported here: dbt takes seconds to import, and most commands never call it
    from dbt.cli.main import dbtRunner

    # the target of the engine's name reads its connection from these (never from a file)
    warehouse = current()
    settings = {**warehouse.dbt_environment(database), **environment}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        return dbtRunner(callbacks=callbacks).invoke(
            [
                *args,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target",
                warehouse.name,
                "--quiet",
                "--log-level-file",
                "warn",
            ]
        )
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _outcome(command: str, result: "dbtRunnerResult") -> DbtOutcome:
    if result.exception is not None:
        return DbtOutcome(False, f"dbt could not run: {_first_line(result.exception)}")
    node_results = list(getattr(result.result, "results", None) or [])
    failures = [r for r in node_results if str(r.status) in _FAILED]
    if failures or not result.success:
        first = failures[0] if failures else None
        explained = next(filter(None, map(_failure_message, failures)), "")
        if explained:
            return DbtOutcome(False, explained)
        where = first.node.name if first is not None else "dbt"
        detail = _first_line(first.message) if first is not None else "see dbt_project/logs"
        return DbtOutcome(False, f"dbt {command} failed in {where}: {detail}")
    return DbtOutcome(True, nodes=[r.node.name for r in node_results])


def _failure_message(result: Any) -> str:
    """What a failing data test says to fix, when it says (`meta: {failure_message: ...}`)."""
    if str(result.status) != "fail":
        return ""
    message = (getattr(result.node.config, "meta", None) or {}).get("failure_message") or ""
    return message.format(failures=result.failures) if message else ""


def _node_finished_callback(on_node: NodeCallback) -> Callable[[Any], None]:
    def callback(event: Any) -> None:
        if event.info.name == "NodeFinished":
            node = event.data.node_info
            if node.resource_type in ("model", "seed", "snapshot"):
                on_node(node.node_name, node.node_status)

    return callback


def _first_line(value: object) -> str:
    """The line that says what went wrong (dbt's `Runtime Error in model x (path)` says where)."""
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    if len(lines) > 1 and _WHERE_LINE.match(lines[0]):
        return lines[1]
    return lines[0] if lines else str(value)


_WHERE_LINE = re.compile(r"^[A-Za-z ]*Error in \w+ \S+ \(.*\)$")
