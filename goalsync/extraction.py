"""Runs the Ecosystems dlt source into the raw dataset of the project's DuckDB file."""

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dlt
import pyarrow as pa
from dlt.pipeline.exceptions import PipelineStepFailed

from extract.ecosystems import EcosystemsAPIError, ecosystems_source

from .paths import pipelines_dir
from .warehouse import connect, table_exists

PIPELINE_NAME = "goalsync_ecosystems"
RAW_DATASET = "ecosystems_raw"

ProgressCallback = Callable[[str, int, int], None]
"""Called after each page with (resource, pages so far, rows so far)."""


class ExtractionError(Exception):
    """The extraction failed; nothing was loaded and the cursor did not move."""


@dataclass
class ExtractionResult:
    rows_read: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows_read(self) -> int:
        return sum(self.rows_read.values())


def make_pipeline(database: Path) -> dlt.Pipeline:
    """The raw-data pipeline; its cursor state lives in the database, beside the data."""
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=RAW_DATASET,
        pipelines_dir=str(pipelines_dir(database)),
    )


def run_extraction(
    database: Path,
    access_token: str,
    base_url: str,
    resources: Sequence[str] = ("documents", "value_drivers", "kpis"),
    on_progress: ProgressCallback | None = None,
    **source_options: object,
) -> ExtractionResult:
    """Extract the given resources incrementally and merge them into `ecosystems_raw`."""
    database.parent.mkdir(parents=True, exist_ok=True)
    _forget_local_state_without_data(database)
    result = ExtractionResult(rows_read=dict.fromkeys(resources, 0))
    source = ecosystems_source(
        access_token=access_token, base_url=base_url, resources=list(resources), **source_options
    )
    for name in resources:
        source.resources[name].add_map(_page_counter(name, result, on_progress))
    pipeline = make_pipeline(database)
    try:
        pipeline.run(source, loader_file_format="parquet")
    except PipelineStepFailed as failure:
        raise ExtractionError(_one_line_reason(failure)) from None
    return result


def _page_counter(resource: str, result: ExtractionResult, on_progress: ProgressCallback | None):
    pages = 0

    def count(page: pa.Table) -> pa.Table:
        nonlocal pages
        pages += 1
        result.rows_read[resource] += page.num_rows
        if on_progress is not None:
            on_progress(resource, pages, result.rows_read[resource])
        return page

    return count


def _forget_local_state_without_data(database: Path) -> None:
    """A database without the raw dataset must rebuild everything, whatever dlt kept locally."""
    if _has_raw_state(database):
        return
    shutil.rmtree(pipelines_dir(database), ignore_errors=True)


def _has_raw_state(database: Path) -> bool:
    if not database.exists():
        return False
    with connect(database) as connection:
        return table_exists(connection, RAW_DATASET, "_dlt_pipeline_state")


def _one_line_reason(failure: PipelineStepFailed) -> str:
    cause: BaseException | None = failure
    while cause is not None:
        if isinstance(cause, EcosystemsAPIError):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    inner = failure.exception
    return f"{failure.step} step failed: {type(inner).__name__}: {str(inner).splitlines()[0]}"
