"""Runs the Ecosystems dlt source into the raw dataset of the run's destination."""

import gc
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dlt
import pyarrow as pa
from dlt.pipeline.exceptions import PipelineStepFailed

from extract.ecosystems import (
    EcosystemsAPIError,
    PageCallback,
    RecordProblem,
    RecordProblems,
    ecosystems_source,
)
from extract.ecosystems.settings import ENDPOINTS_BY_NAME

from . import warehouses
from .errors import first_line, redacted
from .paths import pipelines_dir
from .schemas import RAW_SCHEMA
from .warehouses import connect, table_exists

PIPELINE_NAME = "goalsync_ecosystems"

ProgressCallback = Callable[[str, int, int], None]
"""Called after each page with (resource, pages so far, rows so far)."""

logger = logging.getLogger(__name__)


class ExtractionError(Exception):
    """The extraction failed; the cursor did not move, so the next run reads it all again."""


@dataclass
class ExtractionResult:
    rows_read: dict[str, int] = field(default_factory=dict)
    # records loaded with a value as null, or not loaded, and why: error records of the run
    problems: list[RecordProblem] = field(default_factory=list)

    @property
    def total_rows_read(self) -> int:
        return sum(self.rows_read.values())


def make_pipeline(database: Path) -> dlt.Pipeline:
    """The raw-data pipeline; its cursor state lives in the database, beside the data."""
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=warehouses.current().dlt_destination(database),
        dataset_name=RAW_SCHEMA,
        pipelines_dir=str(pipelines_dir(database)),
    )


def run_extraction(
    database: Path,
    access_token: str,
    base_url: str,
    resources: Sequence[str] = tuple(ENDPOINTS_BY_NAME),
    on_progress: ProgressCallback | None = None,
    **source_options: object,
) -> ExtractionResult:
    """Extract the given resources incrementally and merge them into `ecosystems_raw`.

    Loads only after every page was read; the cursor moves only with a completed load.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    _forget_local_state_without_data(database)
    result = ExtractionResult(rows_read=dict.fromkeys(resources, 0))
    problems = RecordProblems()
    source = ecosystems_source(
        access_token=access_token,
        base_url=base_url,
        resources=list(resources),
        record_problems=problems,
        on_page=_page_counter(result, on_progress),
        **source_options,
    )
    try:
        pipeline = _finish_interrupted_load(database)
        pipeline.sync_destination()
        with _collector_paused():
            pipeline.extract(source, loader_file_format=warehouses.current().loader_file_format)
        pipeline.normalize()
        read = result.total_rows_read
        logger.info(f"read {read} records; loading what is new into {RAW_SCHEMA}")
        pipeline.load()
    except PipelineStepFailed as failure:
        raise ExtractionError(_one_line_reason(failure, access_token)) from None
    finally:
        # Arrow keeps the pages' freed memory for reuse: hand it back before dbt runs here
        pa.default_memory_pool().release_unused()
    result.problems = problems.items
    if result.problems:
        logger.info(
            f"{len(result.problems)} records could not be loaded exactly as received: "
            "they become error records of this run"
        )
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while pages are parsed and shaped.

    A page is a tree of fresh objects without cycles, freed by reference counting; the
    collector would only rescan them (about 8 % of the extraction's CPU time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _finish_interrupted_load(database: Path) -> dlt.Pipeline:
    """Load what a stopped run left extracted but not loaded; drop it if that fails.

    Dropping is safe: the cursor in the database moves only with a completed load, so the
    dropped records are read again, and merge on id keeps any that were half loaded once.
    """
    pipeline = make_pipeline(database)
    _drop_partial_extractions(pipeline)
    if not pipeline.has_pending_data:
        return pipeline
    try:
        if pipeline.list_extracted_load_packages():
            pipeline.normalize()
        pipeline.load()
        logger.info("completed the load of an interrupted run")
        return pipeline
    except PipelineStepFailed as failure:
        logger.info(
            "dropped the load of an interrupted run "
            f"({_one_line_reason(failure)}); its records are read again"
        )
    shutil.rmtree(pipelines_dir(database), ignore_errors=True)
    return make_pipeline(database)


def _drop_partial_extractions(pipeline: dlt.Pipeline) -> None:
    """A run killed while extracting leaves its unfinished package in a folder of its own.

    dlt never lists it as pending; the cursor did not move, so its records are read again.
    Under the run lock no other extraction can be writing there.
    """
    normalize = Path(pipeline.working_dir) / "normalize"
    if not normalize.is_dir():
        return
    for folder in normalize.iterdir():
        if folder.is_dir() and folder.name != "extracted":
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("dropped the unfinished extraction of an interrupted run")


def _page_counter(result: ExtractionResult, on_progress: ProgressCallback | None) -> PageCallback:
    pages: dict[str, int] = {}

    def count(resource: str, records: int) -> None:
        pages[resource] = pages.get(resource, 0) + 1
        result.rows_read[resource] += records
        if on_progress is not None:
            on_progress(resource, pages[resource], result.rows_read[resource])

    return count


def _forget_local_state_without_data(database: Path) -> None:
    """A database without the raw dataset must rebuild everything, whatever dlt kept locally."""
    if _has_raw_state(database):
        return
    shutil.rmtree(pipelines_dir(database), ignore_errors=True)


def _has_raw_state(database: Path) -> bool:
    if not warehouses.exists(database):
        return False
    with connect(database) as connection:
        return table_exists(connection, RAW_SCHEMA, "_dlt_pipeline_state")


def _one_line_reason(failure: PipelineStepFailed, access_token: str = "") -> str:
    cause: BaseException | None = failure
    while cause is not None:
        if isinstance(cause, EcosystemsAPIError):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    inner = failure.exception
    reason = f"{failure.step} step failed: {type(inner).__name__}: {first_line(inner)}"
    return redacted(reason, access_token)
