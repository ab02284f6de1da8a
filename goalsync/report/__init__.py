"""`orchestrate.py report`: one self-contained HTML page of jobs, runs, errors and goal progress."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import views
from ..clock import utc_now
from ..errors import ConfigError, shown_path
from ..jobs_config import JobsConfig
from ..warehouses import connect, exists
from . import queries
from .render import render_page

REPORT_FILE_NAME = "goalsync-report.html"


@dataclass
class ReportData:
    database: Path
    generated_at: datetime
    jobs: views.View
    has_runs: bool = False
    histories: list[queries.JobHistory] = field(default_factory=list)
    errors: list[queries.RunErrors] = field(default_factory=list)
    progress: queries.GoalProgress | None = None


def default_report_path(database: Path) -> Path:
    """Beside the database it reports on."""
    return database.parent / REPORT_FILE_NAME


def collect(database: Path, config: JobsConfig) -> ReportData:
    """What the page shows; a missing database or one without runs gives a page saying so."""
    data = ReportData(database, utc_now(), views.job_list(database, config))
    if not exists(database):
        return data
    with connect(database, must_exist=True) as connection:
        data.has_runs = queries.has_runs(connection)
        if not data.has_runs:
            return data
        data.histories = queries.job_histories(connection)
        data.errors = queries.run_errors(connection)
        data.progress = queries.goal_progress(connection)
    return data


def write_report(database: Path, config: JobsConfig, out: Path | None = None) -> Path:
    """Write the page to `out` (default: beside the database); returns where it went."""
    target = out if out is not None else default_report_path(database)
    page = render_page(collect(database, config))
    try:
        if out is None:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"cannot write the report to {shown_path(target)} ({error.strerror}): "
            "pass --out with a writable file path"
        ) from None
    return target
