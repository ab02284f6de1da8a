"""dlt source for the Ecosystems REST API: documents, value drivers and KPIs."""

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from . import settings
from .helpers import (
    EcosystemsAPIError,
    EcosystemsClient,
    RecordProblem,
    RecordProblems,
    page_to_table,
)
from .lookback import LookbackWindow
from .settings import ENDPOINTS_BY_NAME, EndpointSpec

PageCallback = Callable[[str, int], None]
"""Told (resource, records in the page) as each page arrives, before any deduplication."""

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
    record_problems: RecordProblems | None = None,
    on_page: PageCallback | None = None,
) -> list[DltResource]:
    """Documents, value drivers and KPIs, incremental on `updated_at`, merged on `id`.

    Records that cannot be loaded exactly as received are told to `record_problems`;
    `on_page` hears of each page as it arrives (pages reach dlt in batches).
    Every run reads again the `lookback_seconds` before the newest `updated_at` it loaded,
    since the API commits records late; records read again unchanged are not loaded again.
    """

    def new_client() -> EcosystemsClient:
        # one per resource: the resources are read in parallel, each says what it reads
        return EcosystemsClient(
            base_url,
            access_token,
            request_timeout=request_timeout,
            max_attempts=max_attempts,
            backoff_factor=backoff_factor,
            max_retry_delay=max_retry_delay,
        )

    return [
        _endpoint_resource(
            new_client(),
            ENDPOINTS_BY_NAME[name],
            page_size,
            lookback_seconds,
            record_problems,
            on_page,
        )
        for name in resources
    ]


def _endpoint_resource(
    client: EcosystemsClient,
    endpoint: EndpointSpec,
    page_size: int,
    lookback_seconds: float,
    record_problems: RecordProblems | None,
    on_page: PageCallback | None,
):
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
        for page in client.iter_pages(endpoint.path, params, typed_as=endpoint):
            if on_page is not None:
                on_page(endpoint.name, len(page))
            table = page_to_table(page, endpoint, record_problems) if page else None
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
