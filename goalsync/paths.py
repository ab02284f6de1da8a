"""Where the project and its one DuckDB file live."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_DUCKDB_PATH = PROJECT_ROOT / "data" / "goalsync.duckdb"
DUCKDB_PATH_ENV = "GOALSYNC_DUCKDB_PATH"


def duckdb_path() -> Path:
    """The one DuckDB file shared by dlt, dbt and the orchestrator (absolute)."""
    configured = os.environ.get(DUCKDB_PATH_ENV)
    return Path(configured).expanduser().resolve() if configured else DEFAULT_DUCKDB_PATH


def pipelines_dir(database: Path) -> Path:
    """dlt's working folder, kept beside the database it loads into."""
    return database.parent / f".{database.name}.dlt"


def snapshot_path(database: Path) -> Path:
    """The destination's row hashes before a run writes it, kept beside the database."""
    return database.parent / f".{database.name}.snapshot.parquet"


def reserve_path(database: Path) -> Path:
    """Room kept free beside the database, so a run can still record that the disk is full."""
    return database.parent / f".{database.name}.reserve"
