"""dlt source for the Ecosystems REST API: documents, value drivers and KPIs."""

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client.client import PageData

from . import settings
from .helpers import (
    EcosystemsAPIError,
    EcosystemsClient,
    RecordProblem,
    RecordProblems,
    page_to_table,
    parse_page,
)
from .lookback import LookbackWindow
from .settings import ENDPOINTS_BY_NAME, EndpointSpec
from .slices import ListedPage, RequestBudget, SlicedListing

PageCallback = Callable[[str, int], None]
"""Told (resource, records in the page) as each page arrives, before any deduplication
(of a slice's last page, only the records before the next slice)."""

__all__ = [
    "EcosystemsAPIError",
    "EcosystemsClient",
    "PageCallback",
    "RecordProblem",
    "RecordProblems",
    "ecosystems_source",
]


@dlt.source(name="ecosystems", max_table_nesting=0)
def ecosystems_source(
    access_token: str = dlt.secrets.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    resources: Sequence[str] = tuple(ENDPOINTS_BY_NAME),
    page_size: int = settings.PAGE_SIZE,
    request_timeout: float = settings.REQUEST_TIMEOUT_SECONDS,
    max_attempts: int = settings.REQUEST_MAX_ATTEMPTS,
    backoff_factor: float = settings.REQUEST_BACKOFF_FACTOR,
    max_retry_delay: float = settings.REQUEST_MAX_RETRY_DELAY_SECONDS,
    lookback_seconds: float = settings.LOOKBACK_SECONDS,
    parallel_requests: int = settings.PARALLEL_REQUESTS,
    record_problems: RecordProblems | None = None,
    on_page: PageCallback | None = None,
) -> list[DltResource]:
    """Documents, value drivers and KPIs, incremental on `updated_at`, merged on `id`.

    Records that cannot be loaded exactly as received are told to `record_problems`;
    `on_page` hears of each page as it arrives (pages reach dlt in batches).
    Every run reads again the `lookback_seconds` before the newest `updated_at` it loaded,
    since the API commits records late; records read again unchanged are not loaded again.
    Up to `parallel_requests` list requests are in flight at once (fewer after a 429): a
    long listing is read in that many `updated_since` slices side by side (`slices`).
    """
    budget = RequestBudget(parallel_requests)

    def new_client() -> EcosystemsClient:
        # one per resource and slice: they are read in parallel, each says what it reads
        return EcosystemsClient(
            base_url,
            access_token,
            request_timeout=request_timeout,
            max_attempts=max_attempts,
            backoff_factor=backoff_factor,
            max_retry_delay=max_retry_delay,
            budget=budget,
        )

    return [
        _endpoint_resource(
            new_client,
            ENDPOINTS_BY_NAME[name],
            page_size,
            lookback_seconds,
            budget.most,
            record_problems,
            on_page,
        )
        for name in resources
    ]


def _endpoint_resource(
    new_client: Callable[[], EcosystemsClient],
    endpoint: EndpointSpec,
    page_size: int,
    lookback_seconds: float,
    parallel_requests: int,
    record_problems: RecordProblems | None,
    on_page: PageCallback | None,
):
    client = new_client()
    slice_clients = threading.local()
    opened: list[EcosystemsClient] = []  # the slices' clients, closed with their listing

    def shape(page: PageData[Any]) -> pa.Table | None:
        return page_to_table(page, endpoint, record_problems) if page else None

    def shape_in_slice(page: PageData[Any]) -> tuple[pa.Table | None, list[RecordProblem]]:
        # a slice's last page runs into the next slice: those records' problems are its
        found = RecordProblems() if record_problems is not None else None
        table = page_to_table(page, endpoint, found) if page else None
        return table, found.items if found is not None else []

    def open_slice(start: datetime, params: dict[str, Any]) -> Iterator[PageData[Any]]:
        if getattr(slice_clients, "client", None) is None:
            slice_clients.client = new_client()
            opened.append(slice_clients.client)
        params = {**params, "updated_since": _iso_utc(start)}
        return slice_clients.client.iter_pages(endpoint.path, params, typed_as=endpoint)

    def listed_pages(params: dict[str, Any]) -> Iterator[ListedPage]:
        """The listing's pages: after the first, in parallel slices when it is long."""
        pages = client.iter_pages(endpoint.path, params, typed_as=endpoint)
        first = next(pages, None)
        if first is None:
            return
        first_table = shape(first)
        yield len(first), first_table
        listing = SlicedListing(
            lambda start: open_slice(start, params),
            shape_in_slice,
            record_problems.add if record_problems is not None else lambda problem: None,
            parallel_requests,
            page_size,
        )
        more = first.response is not None and parse_page(first.response).next_cursor is not None
        if more and listing.plan(first_table, pages):
            try:
                yield from listing.pages()
            finally:
                for slice_client in opened:
                    slice_client.session.close()
                opened.clear()
            return
        for page in pages:
            yield len(page), shape(page)

    @dlt.resource(
        name=endpoint.name,
        write_disposition="merge",
        primary_key="id",
        parallelized=True,
        # a record edited while its listing is read can arrive twice: the newest version wins
        columns={"updated_at": {"dedup_sort": "desc"}},
    )
    def list_records(
        updated_at: dlt.sources.incremental[datetime] = dlt.sources.incremental(
            "updated_at",
            # with a lag dlt reads the window again and leaves deduplication to us
            # (LookbackWindow); without one it drops the records at the cursor it loaded
            lag=lookback_seconds or None,
            on_cursor_value_missing="include",
        ),
    ) -> Iterator[pa.Table]:
        params: dict[str, Any] = {"limit": page_size}
        if updated_at.start_value is not None:
            params["updated_since"] = _iso_utc(updated_at.start_value)
        window = None
        if lookback_seconds:
            window = LookbackWindow(dlt.current.resource_state(), lookback_seconds)
        batch: list[pa.Table] = []
        for received, table in listed_pages(params):
            if on_page is not None:
                on_page(endpoint.name, received)
            if table is not None and window is not None:
                table = window.new_versions(table)
            if table:
                batch.append(table)
            if sum(map(len, batch)) >= settings.ROWS_PER_BATCH:
                yield pa.concat_tables(batch)
                batch = []
        if window is not None:
            window.close()
        if batch:
            yield pa.concat_tables(batch)

    return list_records


def _iso_utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
