"""What a job's last dbt build read, so a rerun can tell that a new build would change nothing.

A build reads the raw tables and the files of the dbt project. When the raw tables hold the
same loads and every file is byte for byte the same, dbt would write the same rows again.
"""

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from extract.ecosystems.settings import ENDPOINTS_BY_NAME

from . import dbt as dbt_runner
from . import warehouses
from .clock import stored_instant, utc_now
from .schemas import RAW_SCHEMA
from .warehouses import Session, table_exists

RAW_TABLES = tuple(ENDPOINTS_BY_NAME)
DBT_DISTRIBUTIONS = ("dbt-core",)
# what dbt writes inside the project: these folders (dbt's defaults) and its user id file
GENERATED_FOLDERS = {
    "target-path": "target",
    "log-path": "logs",
    "packages-install-path": "dbt_packages",
}
GENERATED_FILES = (".user.yml",)


@dataclass(frozen=True)
class BuildInputs:
    """The raw loads (None before the first load) and the fingerprint of what dbt reads."""

    watermark: str | None
    fingerprint: str


@dataclass(frozen=True)
class BuildState:
    inputs: BuildInputs
    run_id: int


def source_watermark(connection: Session) -> str | None:
    """Per raw table, the newest `_dlt_load_id` and the row count; None when none exists.

    Every load writes its id on the rows it writes (tombstones too); the count also moves
    when rows are removed, which writes no id.
    """
    parts = []
    for table in RAW_TABLES:
        if table_exists(connection, RAW_SCHEMA, table):
            newest, rows = connection.execute(
                f'select max(_dlt_load_id), count(*) from {RAW_SCHEMA}."{table}"'
            ).fetchone()
            parts.append(f"{table}={newest}/{rows}")
    return "; ".join(parts) or None


def inputs_fingerprint(project_dir: Path, jobs_path: Path) -> str:
    """sha256 of the project's files (dbt's own output aside), its seeds, the jobs config
    and dbt's version: everything besides raw data that can change what a build writes."""
    project_dir = project_dir.resolve()
    settings = _project_settings(project_dir)
    generated = {
        project_dir / settings.get(key, default) for key, default in GENERATED_FOLDERS.items()
    }
    generated |= {project_dir / folder for folder in settings.get("clean-targets") or []}
    files = set(_files(project_dir, {folder.resolve() for folder in generated}))
    for seeds in settings.get("seed-paths") or ["seeds"]:
        files |= set(_files((project_dir / seeds).resolve(), set()))
    entries = sorted((os.path.relpath(path, project_dir), path.read_bytes()) for path in files)
    if jobs_path.is_file():
        entries.append(("jobs config", jobs_path.read_bytes()))
    adapter = warehouses.current().dbt_adapter
    entries += [(name, metadata.version(name).encode()) for name in (*DBT_DISTRIBUTIONS, adapter)]
    digest = hashlib.sha256()
    for name, content in entries:
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def current_inputs(connection: Session, jobs_path: Path) -> BuildInputs:
    """What a build would read now, in the project dbt runs."""
    fingerprint = inputs_fingerprint(dbt_runner.DBT_PROJECT_DIR, jobs_path)
    return BuildInputs(source_watermark(connection), fingerprint)


def last_build(connection: Session, job_name: str) -> BuildState | None:
    row = connection.execute(
        "select source_watermark, inputs_fingerprint, run_id from activity.build_state "
        "where job_name = ?",
        [job_name],
    ).fetchone()
    return BuildState(BuildInputs(row[0], row[1]), row[2]) if row else None


def record_build(connection: Session, job_name: str, inputs: BuildInputs, run_id: int) -> None:
    connection.execute(
        "insert into activity.build_state values (?, ?, ?, ?, ?) on conflict (job_name) do update "
        "set source_watermark = excluded.source_watermark, "
        "inputs_fingerprint = excluded.inputs_fingerprint, built_at = excluded.built_at, "
        "run_id = excluded.run_id",
        [job_name, inputs.watermark, inputs.fingerprint, stored_instant(utc_now()), run_id],
    )


def forget_build(connection: Session, job_name: str) -> None:
    """Before a build: one that fails halfway leaves tables that match no recorded inputs."""
    connection.execute("delete from activity.build_state where job_name = ?", [job_name])


def latest_build_run(connection: Session, job_names: Sequence[str]) -> int | None:
    """The run of the newest recorded build among these jobs."""
    if not job_names:
        return None
    placeholders = ", ".join("?" for _ in job_names)
    return connection.execute(
        f"select max(run_id) from activity.build_state where job_name in ({placeholders})",
        list(job_names),
    ).fetchone()[0]


def _project_settings(project_dir: Path) -> dict:
    try:
        text = (project_dir / "dbt_project.yml").read_text(encoding="utf-8")
        # libyaml's loader when present: the pure-Python one alone takes ~7 ms here
        settings = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return {}  # dbt itself reports the broken file when it builds
    return settings if isinstance(settings, dict) else {}


def _files(folder: Path, skipped: set[Path]) -> Iterator[Path]:
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if Path(root, name) not in skipped]
        yield from (Path(root, name) for name in names if name not in GENERATED_FILES)
