"""HTTP client and record shaping for the Ecosystems source; the only code that knows HTTP."""

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.client import PageData
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import HTTPError, RequestException, Response, Session
from tenacity import RetryCallState

from . import settings
from .settings import EndpointSpec
from .typed_pages import decode_page, missing_values, typed_records_table

if TYPE_CHECKING:
    from .slices import RequestBudget

_PARSED_PAGE = "_ecosystems_page"
logger = logging.getLogger(__name__)


class EcosystemsAPIError(HTTPError):
    """A one-line, token-free description of what the Ecosystems API answered or failed to."""


def describe_status(response: Response) -> str | None:
    """The user-facing reason for an error status, or None when the status is a success."""
    status = response.status_code
    if status < 400:
        return None
    message = _error_message(response)
    if status == 401:
        return (
            "Ecosystems rejected the access token (401 unauthorized): create a new token on "
            "the Ecosystems settings page and update the connection"
        )
    if status == 403:
        return (
            "the Ecosystems access token lacks the 'read' scope (403 forbidden): "
            "create a token with the read scope"
        )
    if status == 400:
        return f"Ecosystems refused the request (400 invalid_parameter): {message}"
    if status == 429:
        return "Ecosystems kept rate-limiting the requests (429) after every retry"
    retried = " (after every retry)" if status >= 500 else ""
    return f"Ecosystems answered HTTP {status}{f': {message}' if message else ''}{retried}"


def _error_message(response: Response) -> str:
    try:
        body = orjson.loads(response.content)
        return str(body["error"]["message"]).replace("\n", " ")[:200]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""


def raise_for_ecosystems_status(response: Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: turns error statuses into EcosystemsAPIError (retried on 429/5xx by dlt)."""
    reason = describe_status(response)
    if reason is not None:
        raise EcosystemsAPIError(reason, response=response)


@dataclass(frozen=True)
class ParsedPage:
    """A list response: its records (dicts, or typed records of a page that decoded clean)."""

    records: list[Any]
    next_cursor: str | None


def parse_page(response: Response, typed_as: EndpointSpec | None = None) -> ParsedPage:
    """Parse a list response once and check it follows the contract.

    With `typed_as`, a page whose every value has its declared type becomes typed records
    (`typed_pages`); any other page becomes dicts, to be checked record by record.
    """
    cached = getattr(response, _PARSED_PAGE, None)
    if cached is not None:
        return cached
    decoded = decode_page(response.content, typed_as) if typed_as is not None else None
    if decoded is not None:
        page = ParsedPage(*decoded)
    else:
        body = parse_body(response)
        page = ParsedPage(body["data"], body.get("next_cursor"))
    setattr(response, _PARSED_PAGE, page)
    return page


def parse_body(response: Response) -> dict[str, Any]:
    """A list response's body as dicts, checked against the contract's envelope."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = _parse_with_big_numbers(response.content)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise EcosystemsAPIError(
            "response breaks the API contract: expected an object with a 'data' list",
            response=response,
        )
    cursor = body.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise EcosystemsAPIError(
            "response breaks the API contract: 'next_cursor' is not a string", response=response
        )
    return body


def _parse_with_big_numbers(content: bytes) -> Any:
    """Fallback for pages orjson refuses (integers beyond 64 bits); malformed JSON still fails."""
    try:
        return json.loads(content)
    except ValueError as error:
        raise EcosystemsAPIError(f"response is not valid JSON ({error.msg})") from None


class EcosystemsCursorPaginator(JSONResponseCursorPaginator):
    """The contract's `next_cursor` pagination, reading the already parsed page."""

    def __init__(self) -> None:
        super().__init__(cursor_path="next_cursor", cursor_param="cursor")

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self._next_reference = parse_page(response).next_cursor or None


class EcosystemsClient(RESTClient):
    """dlt's RESTClient with the contract's auth, pagination, retries and error messages."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        request_timeout: float = settings.REQUEST_TIMEOUT_SECONDS,
        max_attempts: int = settings.REQUEST_MAX_ATTEMPTS,
        backoff_factor: float = settings.REQUEST_BACKOFF_FACTOR,
        max_retry_delay: float = settings.REQUEST_MAX_RETRY_DELAY_SECONDS,
        budget: "RequestBudget | None" = None,
    ) -> None:
        """`budget`, shared by the clients of one source, bounds their list requests in flight."""
        session = Client(
            request_timeout=request_timeout,
            raise_for_status=False,
            request_max_attempts=max_attempts,
            request_backoff_factor=backoff_factor,
            request_max_retry_delay=max_retry_delay,
        ).session
        # dlt's Client retries `send` with tenacity; the same policy, plus a word before each wait
        session.send = session.send.retry_with(before_sleep=self._report_retry)
        _read_environment_once(session, base_url)
        self.request_timeout = request_timeout
        self.max_attempts = max_attempts
        self._reading = "/me"  # what the request in flight reads, for progress and errors
        self._typed_as: EndpointSpec | None = None  # the endpoint whose pages decode typed
        self.budget = budget
        self._request_started = 0.0  # when the list request in flight got its place
        super().__init__(
            # a trailing slash keeps the base path (`/v1`) when endpoints are joined to it
            base_url=base_url.rstrip("/") + "/",
            auth=BearerTokenAuth(access_token),
            paginator=EcosystemsCursorPaginator(),
            data_selector="data",
            session=session,
        )

    def extract_response(self, response: Response, data_selector: Any) -> list[Any]:
        return parse_page(response, self._typed_as).records

    def iter_pages(
        self, path: str, params: dict[str, Any], typed_as: EndpointSpec | None = None
    ) -> Iterator[PageData[Any]]:
        """Yield each page's records; failures name the endpoint and the page.

        Records are dicts, or with `typed_as` typed records where a page decodes clean
        (`page_to_table` shapes either).
        """
        self._typed_as = typed_as
        hooks = {"response": [raise_for_ecosystems_status]}
        pages = self.paginate(path, params=params, hooks=hooks)
        page_number = 1
        while True:
            self._reading = f"/{path} page {page_number}"
            try:
                if self.budget is None:
                    page = next(pages, None)
                else:
                    with self.budget.request() as self._request_started:
                        page = next(pages, None)
            except RequestException as error:
                raise EcosystemsAPIError(
                    f"GET {self._reading}: {describe_request_error(error)}"
                ) from None
            if page is None:
                return
            yield page
            page_number += 1

    def get_me(self) -> dict[str, Any]:
        """The Test Connection call: `GET /me`."""
        self._reading = "/me"
        try:
            response = self.get("me", hooks={"response": [raise_for_ecosystems_status]})
            return orjson.loads(response.content)
        except RequestException as error:
            raise EcosystemsAPIError(f"GET /me: {describe_request_error(error)}") from None
        except orjson.JSONDecodeError:
            raise EcosystemsAPIError("GET /me: response is not valid JSON") from None

    def _report_retry(self, retry_state: RetryCallState) -> None:
        """Say why a request is retried and how long the wait before it is (progress output)."""
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        response = getattr(error, "response", None)
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        attempt = f"retry {retry_state.attempt_number} of {self.max_attempts - 1}"
        if response is not None and response.status_code == 429:
            limit = self.budget.rate_limited(self._request_started) if self.budget else None
            fewer = f"; {limit} requests at once from now" if limit is not None else ""
            logger.info(f"rate limited by {self._reading}, waiting {wait:g}s ({attempt}){fewer}")
            return
        if response is not None:
            why = f"HTTP {response.status_code}"
        elif error is not None and "Timeout" in type(error).__name__:
            why = f"no answer within {self.request_timeout:g}s (request timeout)"
        else:
            why = "connection failed" if error is not None else "unexpected answer"
        logger.info(f"{self._reading}: {why}, retrying in {wait:g}s ({attempt})")


def _read_environment_once(session: Session, base_url: str) -> None:
    """Proxy and CA settings from the environment, read for the API once, not per request.

    requests reads them on every request otherwise (about half a millisecond each).
    """
    environment = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(environment["proxies"])
    session.verify = environment["verify"]
    session.cert = environment["cert"]
    session.trust_env = False


def describe_request_error(error: RequestException) -> str:
    """One line for a failed request, without the URL's query string or any header."""
    if isinstance(error, EcosystemsAPIError):
        return str(error)
    name = type(error).__name__
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in name:
        return "TLS handshake failed (certificate not trusted); check the base URL"
    if "Timeout" in name:
        return "the Ecosystems API did not answer in time (request timeout), after retries"
    if "Connection" in name or "ChunkedEncoding" in name:
        return "cannot reach the Ecosystems API (connection refused or dropped); check the base URL"
    return f"request failed ({name})"


@dataclass(frozen=True)
class RecordProblem:
    """A record the source could not load exactly as received, and why.

    `reason` is `code: detail`, several joined by "; " (codes: not_an_object, missing_id,
    duplicate_id, not_a_list, invalid_number, number_out_of_range, invalid_timestamp,
    missing_value).
    """

    object_name: str
    record_key: str | None
    reason: str
    record: Any


class RecordProblems:
    """Collects the record problems of one extraction (passed to the source by its runner)."""

    def __init__(self) -> None:
        self.items: list[RecordProblem] = []

    def add(self, problem: RecordProblem) -> None:
        self.items.append(problem)


LostValue = Callable[[int, Any], None]
"""Told (position in the page, value as received) when a value cannot be kept."""


def page_to_table(
    page: PageData[Any], endpoint: EndpointSpec, problems: RecordProblems | None = None
) -> pa.Table:
    """Shape a page of `iter_pages` into an Arrow table with the endpoint's declared schema."""
    if page and isinstance(page[0], msgspec.Struct):
        table = typed_records_table(page, endpoint)
        if table is not None:
            return table
        # some value needs coercing or reporting: the dicts as received decide
        return records_to_table(parse_body(page.response)["data"], endpoint, problems)
    return records_to_table(page, endpoint, problems)


def records_to_table(
    records: list[Any], endpoint: EndpointSpec, problems: RecordProblems | None = None
) -> pa.Table:
    """Shape one page of records (dicts) into an Arrow table with the declared schema.

    The path of pages that break the contract somewhere (`typed_pages` takes the others):
    what cannot be loaded as received is loaded as null or left out, and told to `problems`.
    """
    page = _PageProblems()
    records = page.loadable(records)
    if problems is not None:
        page.wrong_shapes(records, endpoint)
    schema = endpoint.arrow_schema
    columns: list[pa.Array] = []
    for field in schema:
        values = _column_values(records, field.name, endpoint)
        on_lost = page.lost_value(records, field) if problems is not None else None
        columns.append(_to_array(values, field.type, on_lost))
    table = pa.Table.from_arrays(columns, schema=schema)
    if problems is not None:
        page.missing_required(table, records, endpoint.required)
        page.tell(problems, endpoint.name)
    return table


class _PageProblems:
    """The problems of one page, gathered per record: one record, one problem, all reasons."""

    def __init__(self) -> None:
        self._records: dict[int, Any] = {}
        self._reasons: dict[int, list[str]] = {}

    def add(self, record: Any, reason: str) -> None:
        self._records.setdefault(id(record), record)
        self._reasons.setdefault(id(record), []).append(reason)

    def tell(self, problems: RecordProblems, object_name: str) -> None:
        for identity, record in self._records.items():
            key = record.get("id") if isinstance(record, dict) else None
            key = key if _is_id(key) else None
            reason = "; ".join(self._reasons[identity])
            problems.add(RecordProblem(object_name, key, reason, record))

    def loadable(self, records: list[Any]) -> list[dict[str, Any]]:
        """Records with an id, once each: a repeated id keeps its last copy in the page."""
        if _all_of(records, dict):  # the usual page, checked at C speed
            ids = [record.get("id") for record in records]
            if _all_of(ids, str):
                distinct = set(ids)
                if len(distinct) == len(ids) and "" not in distinct:
                    return records
        kept = [r for r in records if isinstance(r, dict) and _is_id(r.get("id"))]
        if len(kept) != len(records):
            for record in records:
                if not isinstance(record, dict):
                    self.add(record, "not_an_object: the record is not a JSON object (not loaded)")
                elif not _is_id(record.get("id")):
                    self.add(record, "missing_id: the record has no string id (not loaded)")
        if len({r["id"] for r in kept}) == len(kept):
            return kept
        last = {r["id"]: position for position, r in enumerate(kept)}
        for position, record in enumerate(kept):
            if last[record["id"]] != position:
                self.add(
                    record,
                    "duplicate_id: the page holds this id again further on "
                    "(that later copy is loaded)",
                )
        return [r for position, r in enumerate(kept) if last[r["id"]] == position]

    def wrong_shapes(self, records: list[dict[str, Any]], endpoint: EndpointSpec) -> None:
        for obj, _ in endpoint.objects:
            if _all_of([record.get(obj) for record in records], dict, type(None)):
                continue
            for record in records:
                value = record.get(obj)
                if value is not None and not isinstance(value, dict):
                    self.add(
                        record,
                        f"not_an_object: {obj} {_shown(value)} is not an object "
                        "(its fields loaded as null)",
                    )
        for column in endpoint.json_lists:
            if _all_of([record.get(column) for record in records], list, type(None)):
                continue
            for record in records:
                value = record.get(column)
                if value is not None and not isinstance(value, list):
                    reason = f"not_a_list: {column} {_shown(value)} is not a list (loaded as null)"
                    self.add(record, reason)

    def lost_value(self, records: list[dict[str, Any]], field: pa.Field) -> LostValue:
        def lost(position: int, value: Any) -> None:
            if pa.types.is_timestamp(field.type):
                why = "invalid_timestamp", "is not an ISO-8601 timestamp"
            elif isinstance(value, int | float) and not isinstance(value, bool):
                why = "number_out_of_range", "is beyond the range of a double"
            else:
                why = "invalid_number", "is not a number"
            reason = f"{why[0]}: {field.name} {_shown(value)} {why[1]} (loaded as null)"
            self.add(records[position], reason)

        return lost

    def missing_required(
        self, table: pa.Table, records: list[dict[str, Any]], required: tuple[str, ...]
    ) -> None:
        """Fields the contract guarantees (a tombstone guarantees only its timestamps)."""
        for column in required:
            missing = missing_values(table, column)
            if not pc.any(missing).as_py():
                continue
            for position in pc.indices_nonzero(missing).to_pylist():
                record = records[position]
                if record.get(column) is None:  # a value loaded as null was told already
                    self.add(record, f"missing_value: {column} is missing (loaded as null)")


def _all_of(values: list[Any], *types: type) -> bool:
    """Whether every value is exactly of one of these types (JSON gives exact types)."""
    return set(map(type, values)) <= set(types)


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _shown(value: Any, width: int = 40) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _column_values(records: list[dict[str, Any]], column: str, endpoint: EndpointSpec) -> list:
    if column in endpoint.json_lists:
        return [_json_text(record.get(column)) for record in records]
    obj, _, key = column.partition("__")
    if key:
        return [_nested(record.get(obj), key) for record in records]
    return [record.get(column) for record in records]


def _nested(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _json_text(value: Any) -> str | None:
    """A list as JSON text exactly as received; anything else breaks the contract (null)."""
    if not isinstance(value, list):
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, kept by the lenient parse
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _to_array(values: list, arrow_type: pa.DataType, on_lost: LostValue | None = None) -> pa.Array:
    if pa.types.is_timestamp(arrow_type):
        return _to_timestamps(values, arrow_type, on_lost)
    try:
        array = pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        coerced = [_coerce(value, arrow_type) for value in values]
        array = pa.array(coerced, type=arrow_type)
        if on_lost is not None:
            for position, (value, kept) in enumerate(zip(values, coerced, strict=True)):
                if value is not None and kept is None:
                    on_lost(position, value)
    if pa.types.is_floating(arrow_type):
        array = _finite(array, values, on_lost)
    return array


def _finite(array: pa.Array, values: list, on_lost: LostValue | None) -> pa.Array:
    """Infinity and NaN are no JSON numbers (a lenient parse of `1e400` gives them): null."""
    infinite = pc.invert(pc.fill_null(pc.is_finite(array), True))
    if not pc.any(infinite).as_py():
        return array
    if on_lost is not None:
        for position in pc.indices_nonzero(infinite).to_pylist():
            on_lost(position, values[position])
    return pc.if_else(infinite, pa.scalar(None, array.type), array)


def _to_timestamps(
    values: list, arrow_type: pa.DataType, on_lost: LostValue | None = None
) -> pa.Array:
    """Parse ISO-8601 text with any offset into UTC instants; unparseable values become null."""
    texts = [value if isinstance(value, str) else None for value in values]
    if on_lost is not None and texts.count(None) != values.count(None):
        for position, value in enumerate(values):
            if value is not None and not isinstance(value, str):
                on_lost(position, value)
    try:
        return pc.cast(pa.array(texts, type=pa.string()), arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        instants = [parse_timestamp(text) for text in texts]
        if on_lost is not None:
            for position, (text, instant) in enumerate(zip(texts, instants, strict=True)):
                if text is not None and instant is None:
                    on_lost(position, text)
        return pa.array(instants, type=arrow_type)


def parse_timestamp(text: str | None) -> datetime | None:
    """Slow path for what Arrow refuses: nanoseconds, or no offset (read as UTC)."""
    if text is None:
        return None
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _coerce(value: Any, arrow_type: pa.DataType) -> Any:
    """Best effort for a value of the wrong type: numbers from text, text from anything."""
    if value is None:
        return None
    if pa.types.is_floating(arrow_type):
        if isinstance(value, bool):
            return None
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, dict | list) else str(value)
