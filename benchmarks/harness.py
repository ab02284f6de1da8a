"""One benchmark run: the sandbox at scale, the floor, a full sync and two reruns."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract.sandbox import SandboxProcess, SandboxScale

from .process_tree import CommandRun, run_measured

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK_DIR = PROJECT_ROOT / "benchmarks" / ".work"
DEFAULT_SCALE = 1_000_000

FLOOR = "floor"
FULL_SYNC = "full sync"
NO_CHANGE = "no-change rerun"
CHANGED = "1%-changed rerun"


@dataclass
class Measurement:
    """One timed command: its stage seconds, the records it counted and the sandbox served."""

    name: str
    run: CommandRun
    stages: dict[str, float]
    records: int
    served: int
    server_cpu_seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def records_per_second(self) -> float:
        return self.records / self.run.wall_seconds if self.run.wall_seconds else 0.0


@dataclass
class BenchmarkResult:
    scale: SandboxScale
    measurements: dict[str, Measurement]
    problems: list[str]

    @property
    def consistent(self) -> bool:
        return not self.problems


def child_environment(work_dir: Path) -> dict[str, str]:
    """The environment of every measured process.

    Bytecode is cached (in the work folder, not the repo) as it is for any installed
    program after its first start; without it each process would recompile dlt and dbt.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work_dir / "pycache")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p
    )
    return env


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _check(run: CommandRun, log: Path, what: str) -> None:
    if run.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"{what} exited with status {run.returncode}:\n" + "\n".join(tail))


def _last_json_line(log: Path) -> dict[str, Any]:
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


class Benchmark:
    def __init__(
        self,
        scale: SandboxScale,
        work_dir: Path = DEFAULT_WORK_DIR,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.scale = scale
        self.work_dir = work_dir
        self.echo = echo
        self.env = child_environment(work_dir)
        self.logs = work_dir / "logs"
        self.sync_database = work_dir / "sync" / "goalsync.duckdb"
        # the same file name as the sync's: compiled SQL names the database by it
        self.floor_database = work_dir / "floor" / "goalsync.duckdb"

    def _prepare(self) -> None:
        for name in ("logs", "sync", "floor"):
            shutil.rmtree(self.work_dir / name, ignore_errors=True)
            (self.work_dir / name).mkdir(parents=True)

    def _untimed(self, command: list[str], what: str) -> str:
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
            raise RuntimeError(f"{what} failed:\n" + "\n".join(tail))
        return done.stdout

    def run(self) -> BenchmarkResult:
        self._prepare()
        self.echo("warm-up: importing goalsync once so every measured process starts warm")
        self._untimed(
            _python("-c", "import goalsync.cli, goalsync.engine, benchmarks.sync_details"),
            "warm-up",
        )
        self.echo(
            f"sandbox: {self.scale.kpis:,} KPIs, {self.scale.value_drivers:,} value drivers, "
            f"{self.scale.documents:,} documents"
        )
        with SandboxProcess(scale=self.scale) as sandbox:
            self.sandbox = sandbox
            measurements = {FLOOR: self._floor()}
            measurements[FULL_SYNC] = self._sync(FULL_SYNC)
            measurements[NO_CHANGE] = self._sync(NO_CHANGE)
            mutation = sandbox.mutate()
            self.echo(
                "sandbox mutation: "
                + ", ".join(
                    f"{len(ids)} {endpoint} {action}"
                    for action in ("updated", "deleted", "added")
                    for endpoint, ids in mutation[action].items()
                )
            )
            measurements[CHANGED] = self._sync(CHANGED)
        return BenchmarkResult(self.scale, measurements, self._problems(measurements))

    def _served(self) -> tuple[int, float]:
        stats = self.sandbox.stats()
        return sum(stats["rows_served"].values()), stats["server_cpu_seconds"]

    def _floor(self) -> Measurement:
        target = self.work_dir / "floor" / "dbt-target"
        self.echo("floor: compiling the job's dbt models (untimed)")
        self._untimed(
            _python(
                "-m",
                "benchmarks.floor",
                "compile",
                "--database",
                str(self.floor_database),
                "--target-path",
                str(target),
            ),
            "dbt compile for the floor",
        )
        self.echo("floor: fetch, read_json, SQL")
        log = self.logs / "floor.log"
        served_before, cpu_before = self._served()
        run = run_measured(
            _python(
                "-m",
                "benchmarks.floor",
                "run",
                "--base-url",
                self.sandbox.base_url,
                "--database",
                str(self.floor_database),
                "--manifest",
                str(target / "manifest.json"),
                "--dump-dir",
                str(self.work_dir / "floor" / "pages"),
            ),
            self.env,
            PROJECT_ROOT,
            log,
            stdin=self.sandbox.token + "\n",
        )
        _check(run, log, "the floor")
        served_after, cpu_after = self._served()
        floor = _last_json_line(log)
        shutil.rmtree(self.work_dir / "floor" / "pages", ignore_errors=True)
        stages = {
            "fetch+extract": floor["fetch_seconds"],
            "load": floor["load_seconds"],
            "dbt": floor["sql_seconds"],
        }
        return Measurement(
            FLOOR,
            run,
            stages,
            records=sum(floor["records"].values()),
            served=served_after - served_before,
            server_cpu_seconds=cpu_after - cpu_before,
            details=floor,
        )

    def _sync(self, name: str) -> Measurement:
        self.echo(f"{name}: orchestrate.py run")
        env = self.env | {
            "GOALSYNC_DUCKDB_PATH": str(self.sync_database),
            "SOURCES__ECOSYSTEMS__ACCESS_TOKEN": self.sandbox.token,
            "SOURCES__ECOSYSTEMS__BASE_URL": self.sandbox.base_url,
        }
        log = self.logs / f"{name.replace(' ', '-').replace('%', '')}.log"
        served_before, cpu_before = self._served()
        run = run_measured(_python("orchestrate.py", "run"), env, PROJECT_ROOT, log)
        _check(run, log, f"the {name}")
        served_after, cpu_after = self._served()
        details = json.loads(
            self._untimed(
                _python("-m", "benchmarks.sync_details", "--database", str(self.sync_database)),
                "reading the sync's details",
            ).strip()
        )
        steps, recorded = details["dlt_steps"], details["stages"]
        stages = {
            "fetch+extract": steps.get("extract", 0.0),
            "normalize": steps.get("normalize", 0.0),
            "load": steps.get("load", 0.0),
            "dbt": recorded.get("transform", 0.0),
            "activity": recorded.get("activity", 0.0),
        }
        # dlt's pipeline work outside its three steps (state, schema) counts as extraction
        stages["fetch+extract"] += max(
            0.0, recorded.get("extract", 0.0) - sum(steps.get(s, 0.0) for s in steps)
        )
        return Measurement(
            name,
            run,
            stages,
            records=details["rows_read"],
            served=served_after - served_before,
            server_cpu_seconds=cpu_after - cpu_before,
            details=details,
        )

    def _problems(self, measurements: dict[str, Measurement]) -> list[str]:
        """Numbers that must agree: rows counted = rows served, the floor's goals = the sync's."""
        problems = []
        for measurement in measurements.values():
            if measurement.records != measurement.served:
                problems.append(
                    f"{measurement.name}: counted {measurement.records} records, "
                    f"the sandbox served {measurement.served}"
                )
        floor, full = measurements[FLOOR].details, measurements[FULL_SYNC].details
        if (floor["goals"], floor["goals_fingerprint"]) != (
            full["goals"],
            full["goals_fingerprint"],
        ):
            problems.append(
                f"customer_goals differ: the floor made {floor['goals']} rows, "
                f"the full sync {full['goals']} (or their contents differ)"
            )
        for name in (FULL_SYNC, NO_CHANGE, CHANGED):
            status = measurements[name].details["status"]
            if status not in ("Success", "Partial Success"):
                problems.append(f"{name}: the job ended {status}")
        return problems
