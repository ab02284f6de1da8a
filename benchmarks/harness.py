"""One benchmark run: the sandbox at scale, a full sync, two reruns and the floor."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from extract.ecosystems.settings import PAGE_SIZE, PARALLEL_REQUESTS
from extract.sandbox import SandboxProcess, SandboxScale
from goalsync.paths import DBT_PROJECT_DIR, pipelines_dir

from .process_tree import CommandRun, run_measured

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK_DIR = PROJECT_ROOT / "benchmarks" / ".work"
DEFAULT_SCALE = 1_000_000

FLOOR = "floor"
FULL_SYNC = "full sync"
NO_CHANGE = "no-change rerun"
CHANGED = "1%-changed rerun"
SYNCS = (FULL_SYNC, NO_CHANGE, CHANGED)


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
    pages: int = 0  # answers of 200 the sandbox gave (pages, and /me)

    @property
    def records_per_second(self) -> float:
        return self.records / self.run.wall_seconds if self.run.wall_seconds else 0.0


@dataclass
class BenchmarkResult:
    scale: SandboxScale
    measurements: dict[str, Measurement]
    problems: list[str]
    latency_ms: float = 0.0
    rate: float | None = None
    parallel_requests: int = PARALLEL_REQUESTS

    @property
    def consistent(self) -> bool:
        return not self.problems


@dataclass
class _SyncRun:
    """A finished sync and what it left behind, read once all syncs are done."""

    name: str
    run: CommandRun
    served: int
    server_cpu_seconds: float
    artifacts: Path
    pages: int


def child_environment(pycache_dir: Path) -> dict[str, str]:
    """The environment of every measured process.

    Bytecode is cached (under benchmarks/.work, not beside the sources) as it is for any
    installed program after its first start; without it each process would spend seconds
    recompiling dlt and dbt, which is no part of a sync.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache_dir)
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


def _compiled_by(manifest: Path, results: Path, run: CommandRun) -> bool:
    """Whether `run`'s `dbt build` wrote these (dbt's target folder is shared with anyone
    else running dbt in the project)."""
    if not (manifest.exists() and results.exists()):
        return False
    built = json.loads(results.read_text())
    generated = datetime.fromisoformat(built["metadata"]["generated_at"]).timestamp()
    ended = run.started_at + run.wall_seconds
    return (
        built["args"].get("which") == "build"
        and run.started_at <= generated <= ended
        and run.started_at <= manifest.stat().st_mtime <= ended
    )


def _compiles_the_job(manifest: Path) -> bool:
    """Whether the manifest holds the compiled SQL of every model (a build that selected
    only what changed compiles only that)."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return all("compiled_code" in node for node in nodes if node["resource_type"] == "model")


def _stage_at(moment: float, spans: dict[str, list[float]]) -> str:
    """The job stage running at `moment` (epoch seconds), else start-up or wrap-up."""
    for stage, (started, finished) in spans.items():
        if started <= moment <= finished:
            return {"transform": "dbt"}.get(stage, stage)
    first = min((started for started, _ in spans.values()), default=moment)
    return "start-up" if moment < first else "wrap-up"


class Benchmark:
    def __init__(
        self,
        scale: SandboxScale,
        work_dir: Path = DEFAULT_WORK_DIR,
        echo: Callable[[str], None] = print,
        pycache_dir: Path = DEFAULT_WORK_DIR / "pycache",
        quick: bool = False,
        latency_ms: float = 0.0,
        rate: float | None = None,
        parallel_requests: int = PARALLEL_REQUESTS,
    ) -> None:
        """`quick` (for tests): no warm-up and no no-change rerun; timings then mean little.

        `latency_ms` and `rate` go to the sandbox; `parallel_requests` to the syncs' source.
        """
        self.scale = scale
        self.latency_ms = latency_ms
        self.rate = rate
        self.parallel_requests = parallel_requests
        self.quick = quick
        self.work_dir = work_dir
        self.echo = echo
        self.env = child_environment(pycache_dir)
        self.logs = work_dir / "logs"
        self.sync_database = work_dir / "sync" / "goalsync.duckdb"
        # the same file name as the sync's: compiled SQL names the database by it
        self.floor_database = work_dir / "floor" / "goalsync.duckdb"
        self.floor_target = work_dir / "floor" / "dbt-target"

    def run(self) -> BenchmarkResult:
        for name in ("logs", "sync", "floor", "artifacts"):
            shutil.rmtree(self.work_dir / name, ignore_errors=True)
            (self.work_dir / name).mkdir(parents=True)
        if not self.quick:
            self.echo("warm-up (untimed): importing goalsync once")
            self._untimed(
                _python("-c", "import goalsync.cli, goalsync.engine, benchmarks.sync_details")
            )
        self.echo(
            f"sandbox: {self.scale.kpis:,} KPIs, {self.scale.value_drivers:,} value drivers, "
            f"{self.scale.documents:,} documents"
        )
        if self.latency_ms or self.rate:
            self.echo(f"sandbox: {self.latency_ms:g} ms late, rate limit {self.rate or 'none'}")
        sandbox = SandboxProcess(scale=self.scale, latency_ms=self.latency_ms, rate=self.rate)
        with sandbox:
            self.sandbox = sandbox
            syncs = [self._sync(FULL_SYNC)]
            if not self.quick:
                syncs.append(self._sync(NO_CHANGE))
            self._mutate()
            syncs.append(self._sync(CHANGED))
            # last, so the floor's goals must equal the incremental rerun's, row for row
            floor = self._floor(self._floor_manifest(syncs[0]))
        measurements = {
            sync.name: self._measurement(sync, details)
            for sync, details in zip(syncs, self._details(syncs), strict=True)
        }
        measurements = {FLOOR: floor, **measurements}
        return BenchmarkResult(
            self.scale,
            measurements,
            self._problems(measurements),
            self.latency_ms,
            self.rate,
            self.parallel_requests,
        )

    def _untimed(self, *commands: list[str]) -> None:
        """Run the commands side by side; raise if one fails."""
        logs = [self.logs / f"untimed-{n}.log" for n in range(len(commands))]
        processes = []
        for command, log in zip(commands, logs, strict=True):
            with log.open("wb") as output:
                processes.append(
                    subprocess.Popen(
                        command, cwd=PROJECT_ROOT, env=self.env, stdout=output, stderr=output
                    )
                )
        for process, command, log in zip(processes, commands, logs, strict=True):
            if process.wait() != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-15:]
                raise RuntimeError(f"{' '.join(command[1:])} failed:\n" + "\n".join(tail))

    def _served(self) -> tuple[int, float, int]:
        """Rows served, server CPU seconds and answers of 200 so far."""
        stats = self.sandbox.stats()
        ok = stats["statuses"].get("200", 0)
        return sum(stats["rows_served"].values()), stats["server_cpu_seconds"], ok

    def _mutate(self) -> None:
        mutation = self.sandbox.mutate()
        changes = [
            f"{len(ids)} {endpoint} {action}"
            for action in ("updated", "deleted", "added")
            for endpoint, ids in mutation[action].items()
        ]
        self.echo("sandbox mutation: " + ", ".join(changes))

    def _floor_manifest(self, full_sync: _SyncRun) -> Path:
        """The job's models compiled to full SQL: the full sync's own, else compiled anew."""
        manifest = full_sync.artifacts / "manifest.json"
        if _compiled_by(
            manifest, full_sync.artifacts / "run_results.json", full_sync.run
        ) and _compiles_the_job(manifest):
            return manifest
        self.echo("floor: compiling the job's dbt models (untimed)")
        self._untimed(
            _python(
                "-m",
                "benchmarks.floor",
                "compile",
                "--database",
                str(self.sync_database),
                "--target-path",
                str(self.floor_target),
            )
        )
        return self.floor_target / "manifest.json"

    def _floor(self, manifest: Path) -> Measurement:
        self.echo("floor: fetch, read_json, SQL")
        log = self.logs / "floor.log"
        served_before, cpu_before, pages_before = self._served()
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
                str(manifest),
                "--dump-dir",
                str(self.work_dir / "floor" / "pages"),
            ),
            self.env,
            PROJECT_ROOT,
            log,
            stdin=self.sandbox.token + "\n",
        )
        _check(run, log, "the floor")
        served_after, cpu_after, pages_after = self._served()
        shutil.rmtree(self.work_dir / "floor" / "pages", ignore_errors=True)
        floor = json.loads(log.read_text().strip().splitlines()[-1])
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
            pages=pages_after - pages_before,
        )

    def _sync(self, name: str) -> _SyncRun:
        self.echo(f"{name}: orchestrate.py run")
        env = self.env | {
            "GOALSYNC_DUCKDB_PATH": str(self.sync_database),
            "SOURCES__ECOSYSTEMS__ACCESS_TOKEN": self.sandbox.token,
            "SOURCES__ECOSYSTEMS__BASE_URL": self.sandbox.base_url,
            "SOURCES__ECOSYSTEMS__PARALLEL_REQUESTS": str(self.parallel_requests),
        }
        slug = name.replace(" ", "-").replace("%", "")
        log = self.logs / f"{slug}.log"
        served_before, cpu_before, pages_before = self._served()
        run = run_measured(_python("orchestrate.py", "run"), env, PROJECT_ROOT, log)
        _check(run, log, f"the {name}")
        served_after, cpu_after, pages_after = self._served()
        # dlt keeps only its last trace and dbt its last results: keep this run's
        artifacts = self.work_dir / "artifacts" / slug
        artifacts.mkdir()
        for trace in pipelines_dir(self.sync_database).glob("*/trace.pickle"):
            shutil.copy(trace, artifacts / "trace.pickle")
        for artifact in ("run_results.json", "manifest.json"):
            written = DBT_PROJECT_DIR / "target" / artifact
            # a run that skipped its dbt build leaves the previous build's files there
            if written.exists() and written.stat().st_mtime >= run.started_at:
                shutil.copy2(written, artifacts / artifact)
        return _SyncRun(
            name,
            run,
            served_after - served_before,
            cpu_after - cpu_before,
            artifacts,
            pages_after - pages_before,
        )

    def _details(self, syncs: list[_SyncRun]) -> list[dict[str, Any]]:
        command = _python("-m", "benchmarks.sync_details", "--database", str(self.sync_database))
        for sync in syncs:
            command += ["--artifacts", str(sync.artifacts)]
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"reading the syncs' details failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout)

    def _measurement(self, sync: _SyncRun, details: dict[str, Any]) -> Measurement:
        steps, recorded = details["dlt_steps"], details["stages"]
        stages = {
            "fetch+extract": steps.get("extract", 0.0),
            "normalize": steps.get("normalize", 0.0),
            "load": steps.get("load", 0.0),
            "dbt": recorded.get("transform", 0.0),
            "activity": recorded.get("activity", 0.0),
        }
        # dlt's pipeline work outside its three steps (state, schema) counts as extraction
        stages["fetch+extract"] += max(0.0, recorded.get("extract", 0.0) - sum(steps.values()))
        details["peak_stage"] = _stage_at(sync.run.peak_at, details["stage_spans"])
        return Measurement(
            sync.name,
            sync.run,
            stages,
            records=details["rows_read"],
            served=sync.served,
            server_cpu_seconds=sync.server_cpu_seconds,
            details=details,
            pages=sync.pages,
        )

    def _problems(self, measurements: dict[str, Measurement]) -> list[str]:
        """What must agree: rows counted = rows served; the floor's goals = the last sync's.

        A listing read in slices is served a little more than it counts: each slice's last
        page runs into the next slice, at most a page for each request past one a page.
        """
        problems = []
        for measurement in measurements.values():
            needed = -(-measurement.records // PAGE_SIZE)
            overlap = PAGE_SIZE * max(0, measurement.pages - needed)
            if not 0 <= measurement.served - measurement.records <= overlap:
                problems.append(
                    f"{measurement.name}: counted {measurement.records} records, "
                    f"the sandbox served {measurement.served}"
                )
        for name in [name for name in SYNCS if name in measurements]:
            status = measurements[name].details["status"]
            if status not in ("Success", "Partial Success"):
                problems.append(f"{name}: the job ended {status}")
        floor, last = measurements[FLOOR].details, measurements[CHANGED].details["final"]
        for rows, table in (("goals", "customer_goals"), ("errors", "customer_goals_errors")):
            if (floor[rows], floor[f"{rows}_fingerprint"]) != (
                last[rows],
                last[f"{rows}_fingerprint"],
            ):
                problems.append(
                    f"{table} differ: the floor built {floor[rows]} rows, the syncs "
                    f"{last[rows]} (or as many with other contents)"
                )
        return problems
