"""Shared by the `test_faults_*` modules: a tiny sandbox, fast retries, snapshots, clean runs.

Every fault is injected for real: the sandbox server's fault switches over loopback HTTP, a
real DuckDB file, real `orchestrate.py` processes. To keep the suite quick, a module starts
from a copy of one clean database, and the clean result it must converge to is computed once
per session (`clean_run`).
"""

import contextlib
import functools
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson

from extract.ecosystems.settings import ENDPOINTS
from extract.sandbox import SandboxScale, SandboxServer
from goalsync import cli
from goalsync.paths import PROJECT_ROOT, pipelines_dir

SCALE = SandboxScale(documents=6, value_drivers=18, kpis=48)
PAGE_SIZE = 3  # several pages per endpoint, even in an incremental run
TOKEN = "tok_FAULTS_a8c31f0e_recognisable"
PIPELINE = "goalsync_ecosystems"
RAW_TABLES = {endpoint.name: endpoint.arrow_schema.names for endpoint in ENDPOINTS}

FAST_SOURCE = {
    "SOURCES__ECOSYSTEMS__PAGE_SIZE": str(PAGE_SIZE),
    "SOURCES__ECOSYSTEMS__BACKOFF_FACTOR": "0",
    "SOURCES__ECOSYSTEMS__REQUEST_TIMEOUT": "1",
    "SOURCES__ECOSYSTEMS__MAX_ATTEMPTS": "3",
    "SOURCES__ECOSYSTEMS__MAX_RETRY_DELAY": "1",
}


def run_environment(database: Path, base_url: str, token: str = TOKEN) -> dict[str, str]:
    """What a run needs: the database, the connection and quick retry settings."""
    return {
        "GOALSYNC_DUCKDB_PATH": str(database),
        "SOURCES__ECOSYSTEMS__ACCESS_TOKEN": token,
        "SOURCES__ECOSYSTEMS__BASE_URL": base_url,
        **FAST_SOURCE,
    }


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def query(database: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(database)) as connection:
        return connection.execute(sql, params or []).fetchall()


def goals(database: Path) -> list[tuple]:
    return query(database, "select * from gainsight.customer_goals order by goal_key")


def goals_by_key(database: Path) -> dict[str, tuple]:
    rows = query(database, "select goal_key, * exclude (goal_key) from gainsight.customer_goals")
    return {row[0]: row[1:] for row in rows}


def goal_errors(database: Path) -> list[tuple]:
    return query(database, "select * from gainsight.customer_goals_errors order by record_key")


def raw_tables(database: Path) -> dict[str, list[tuple]]:
    """Every raw row, every declared column (the dlt bookkeeping columns left out)."""
    return {
        table: query(
            database,
            f"select {', '.join(columns)} from ecosystems_raw.{table} order by id",
        )
        for table, columns in RAW_TABLES.items()
    }


def pipeline_state(database: Path) -> list[tuple]:
    """The incremental cursor's home: every row of `_dlt_pipeline_state`, as stored."""
    return query(database, "select * from ecosystems_raw._dlt_pipeline_state order by version")


def cursors(database: Path) -> dict[str, object]:
    """The `updated_at` cursor of each resource in the newest completed load's state."""
    row = query(
        database,
        """select s.state from ecosystems_raw._dlt_pipeline_state s
           join ecosystems_raw._dlt_loads l on l.load_id = s._dlt_load_id
           where l.status = 0 order by s.version desc limit 1""",
    )[0]
    state = orjson.loads(zlib.decompress(b64decode(row[0])))
    resources = state["sources"]["ecosystems"]["resources"]
    return {
        name: resource["incremental"]["updated_at"]["last_value"]
        for name, resource in sorted(resources.items())
    }


def snapshot(database: Path) -> dict:
    """What a failed run must leave exactly as it was."""
    return {
        "goals": goals(database),
        "goal_errors": goal_errors(database),
        "raw": raw_tables(database),
        "state": pipeline_state(database),
    }


def result(database: Path) -> dict:
    """What a converged run must equal: the goals, their rejections, the raw data, cursors."""
    return {
        "goals": goals(database),
        "goal_errors": goal_errors(database),
        "raw": raw_tables(database),
        "cursors": cursors(database),
    }


def runs(database: Path) -> list[tuple]:
    return query(database, "select run_id, status, message from activity.job_runs order by run_id")


def pending_packages(database: Path) -> list[str]:
    """Load packages dlt extracted or normalized but did not finish loading."""
    root = pipelines_dir(database) / PIPELINE
    folders = [root / "normalize" / "extracted", root / "load" / "normalized"]
    # a kill in the middle of one of dlt's atomic writes may leave an empty temporary file
    return sorted(
        p.name for folder in folders if folder.is_dir() for p in folder.iterdir() if p.is_dir()
    )


def partial_extractions(database: Path) -> list[str]:
    """Unfinished extractions of killed runs (dlt keeps each in a folder of its own)."""
    root = pipelines_dir(database) / PIPELINE / "normalize"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "extracted")


def first_completed_load_job(database: Path, timeout: float = 30) -> str:
    """Wait until a load job of a pending package is done (the load is half way)."""
    root = pipelines_dir(database) / PIPELINE / "load" / "normalized"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for package in root.glob("*/completed_jobs"):
            jobs = [job.name for job in package.iterdir()]
            if jobs:
                return jobs[0]
        time.sleep(0.002)
    raise AssertionError("no load job completed")


def mutated_sandbox(rounds: int, token: str = TOKEN, **options) -> SandboxServer:
    server = SandboxServer(scale=SCALE, token=token, **options)
    for _ in range(rounds):
        server.mutate()
    return server


@functools.cache
def clean_run(rounds: int, root: Path) -> tuple[Path, dict]:
    """A run that never failed, into a fresh database, after `rounds` sandbox mutations."""
    database = root / f"clean-{rounds}" / "goalsync.duckdb"
    with mutated_sandbox(rounds) as server, environment(run_environment(database, server.base_url)):
        assert cli.main(["run"]) == cli.EXIT_OK
    return database, result(database)


def copy_database(source: Path, target: Path) -> Path:
    """The database alone: dlt restores its working state from the copy's own tables.

    Checkpointed first: a connection this process still holds (dbt's) may keep the last
    writes in the write-ahead log, which a copy of the file alone would lose.
    """
    with duckdb.connect(str(source)) as connection:
        connection.execute("checkpoint")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target


def tables_containing(database: Path, needle: str) -> list[str]:
    """Every table whose text holds `needle` (DuckDB compresses strings: grep cannot see)."""
    found = []
    with duckdb.connect(str(database)) as connection:
        columns = connection.execute(
            """select c.table_schema, c.table_name, list(c.column_name)
               from information_schema.columns c
               join information_schema.tables t using (table_schema, table_name)
               where t.table_type = 'BASE TABLE' and c.data_type in ('VARCHAR', 'JSON')
               group by all"""
        ).fetchall()
        for schema, table, names in columns:
            holds = " or ".join(f'contains("{name}"::varchar, $needle)' for name in names)
            sql = f'select count(*) from "{schema}"."{table}" where {holds}'
            if connection.execute(sql, {"needle": needle}).fetchone()[0]:
                found.append(f"{schema}.{table}")
    return found


class Orchestrate:
    """`python orchestrate.py` in a child process; its output is read line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "orchestrate.py")],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._new_lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            self._new_lines.put(line)
        self._new_lines.put(None)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        """Block until a new output line matches; fail if the process ends first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new_lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.output}") from None
            if line is None:
                raise AssertionError(f"exited before {pattern!r}:\n{self.output}")
            if re.search(pattern, line):
                return line

    def seen(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in list(self.lines))

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL


def copy_project(root: Path) -> Path:
    """dbt_project/ and seeds/ as the repository lays them out; returns the project folder."""
    ignored = shutil.ignore_patterns("target", "logs")
    shutil.copytree(PROJECT_ROOT / "dbt_project", root / "dbt_project", ignore=ignored)
    shutil.copytree(PROJECT_ROOT / "seeds", root / "seeds")
    return root / "dbt_project"
