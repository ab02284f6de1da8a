"""HTTP client and record shaping for the Ecosystems source; the only code that knows HTTP."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import HTTPError, RequestException, Response

from . import settings
from .settings import EndpointSpec

_PARSED_PAGE = "_ecosystems_page"


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
    return f"Ecosystems answered HTTP {status}{f': {message}' if message else ''}"


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


def parse_page(response: Response) -> dict[str, Any]:
    """Parse a list response once and check it follows the contract."""
    cached = getattr(response, _PARSED_PAGE, None)
    if cached is not None:
        return cached
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
    setattr(response, _PARSED_PAGE, body)
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
        self._next_reference = parse_page(response).get("next_cursor") or None


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
    ) -> None:
        session = Client(
            request_timeout=request_timeout,
            raise_for_status=False,
            request_max_attempts=max_attempts,
            request_backoff_factor=backoff_factor,
            request_max_retry_delay=max_retry_delay,
        ).session
        super().__init__(
            # a trailing slash keeps the base path (`/v1`) when endpoints are joined to it
            base_url=base_url.rstrip("/") + "/",
            auth=BearerTokenAuth(access_token),
            paginator=EcosystemsCursorPaginator(),
            data_selector="data",
            session=session,
        )

    def extract_response(self, response: Response, data_selector: Any) -> list[Any]:
        return parse_page(response)["data"]

    def iter_pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's records; failures name the endpoint and the page."""
        hooks = {"response": [raise_for_ecosystems_status]}
        pages = self.paginate(path, params=params, hooks=hooks)
        page_number = 1
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except RequestException as error:
                raise EcosystemsAPIError(
                    f"GET /{path} page {page_number}: {describe_request_error(error)}"
                ) from None
            yield page
            page_number += 1

    def get_me(self) -> dict[str, Any]:
        """The Test Connection call: `GET /me`."""
        try:
            response = self.get("me", hooks={"response": [raise_for_ecosystems_status]})
            return orjson.loads(response.content)
        except RequestException as error:
            raise EcosystemsAPIError(f"GET /me: {describe_request_error(error)}") from None
        except orjson.JSONDecodeError:
            raise EcosystemsAPIError("GET /me: response is not valid JSON") from None


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


def records_to_table(records: list[dict[str, Any]], endpoint: EndpointSpec) -> pa.Table:
    """Shape one page of records into an Arrow table with the endpoint's declared schema."""
    records = [r for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)]
    schema = endpoint.arrow_schema
    columns: list[pa.Array] = []
    for field in schema:
        values = _column_values(records, field.name, endpoint)
        columns.append(_to_array(values, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


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
    return None if value is None else orjson.dumps(value).decode()


def _to_array(values: list, arrow_type: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(arrow_type):
        return _to_timestamps(values, arrow_type)
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([_coerce(value, arrow_type) for value in values], type=arrow_type)


def _to_timestamps(values: list, arrow_type: pa.DataType) -> pa.Array:
    """Parse ISO-8601 text with any offset into UTC instants; unparseable values become null."""
    texts = [value if isinstance(value, str) else None for value in values]
    try:
        return pc.cast(pa.array(texts, type=pa.string()), arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([_parse_timestamp(text) for text in texts], type=arrow_type)


def _parse_timestamp(text: str | None) -> datetime | None:
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
