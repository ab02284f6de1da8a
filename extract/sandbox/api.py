"""The Ecosystems API of the sandbox, independent of the HTTP transport: request in, reply out."""

import hmac
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from extract.sandbox.clock import parse_instant_us
from extract.sandbox.data import ENDPOINTS
from extract.sandbox.faults import Fault, FaultBoard
from extract.sandbox.store import CursorError, SandboxStore, page_number

DEFAULT_TOKEN = "sandbox-token"
DEFAULT_NO_SCOPE_TOKEN = "sandbox-no-scope-token"
BASE_PATH = "/v1"
CONTROL_PATH = "/_sandbox"
ME = {
    "organization": {"id": "org_sandbox", "name": "Sandbox Org (generated data)"},
    "token": {"name": "sandbox", "scopes": ["read"]},
}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

_ERROR_CODES = {
    400: "invalid_parameter",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
}
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_LIMIT = re.compile(r"\d{1,7}")


@dataclass
class Reply:
    """What to answer: status, body, headers; or sleep first (`delay`), or answer nothing."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def error_reply(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    code = _ERROR_CODES.get(status, "server_error" if status >= 500 else "client_error")
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Reply(status, body, headers=headers or {})


def is_loopback(host: str) -> bool:
    """Control endpoints answer only to this machine."""
    return host in ("::1", "localhost") or host.startswith("127.") or host == "::ffff:127.0.0.1"


class RateLimit:
    """A token bucket of `rate` requests a second (a second's worth of burst)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be a positive number of requests a second")
        self.rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._refilled = time.monotonic()
        self._lock = threading.Lock()

    def retry_after(self) -> int:
        """0 when a request may pass now (it takes its token), else whole seconds to wait."""
        with self._lock:
            now = time.monotonic()
            elapsed, self._refilled = now - self._refilled, now
            self._tokens = min(self._capacity, self._tokens + elapsed * self.rate)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - self._tokens) / self.rate))


class SandboxApi:
    """Routes requests to /v1 endpoints and /_sandbox controls; counts what it serves.

    `latency` (seconds) delays every /v1 reply, `rate` (requests a second) answers 429 past it.
    """

    def __init__(
        self,
        store: SandboxStore,
        token: str,
        no_scope_tokens: Iterable[str] = (),
        latency: float = 0.0,
        rate: float | None = None,
    ) -> None:
        self.store = store
        self._token = token.encode()
        self._no_scope_tokens = [t.encode() for t in no_scope_tokens]
        self.faults = FaultBoard()
        self.latency = latency
        self.rate_limit = RateLimit(rate) if rate else None
        self._stats_lock = threading.Lock()
        self.reset_stats()

    # --- statistics -------------------------------------------------------------------

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._requests: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            self._rows: Counter[str] = Counter()
            self._cpu_seconds = 0.0

    def stats(self) -> dict[str, Any]:
        """Requests per endpoint, replies per status, rows served, faults fired, server CPU."""
        with self._stats_lock:
            return {
                "requests": dict(self._requests),
                "statuses": dict(self._statuses),
                "rows_served": {endpoint: self._rows[endpoint] for endpoint in ENDPOINTS},
                "faults_fired": self.faults.fired,
                "server_cpu_seconds": round(self._cpu_seconds, 4),
                "mutation_rounds": self.store.rounds,
            }

    # --- entry point ------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, client: str
    ) -> Reply:
        started = time.thread_time()
        url = urlsplit(target)
        if url.path.startswith(CONTROL_PATH + "/"):
            if not is_loopback(client):
                return error_reply(404, "Not found.")
            return self._control(method, url.path[len(CONTROL_PATH) + 1 :], body)
        name = url.path[len(BASE_PATH) + 1 :] if url.path.startswith(BASE_PATH + "/") else ""
        if name not in ("me", *ENDPOINTS):
            return error_reply(404, "Not found.")
        query = parse_qs(url.query, keep_blank_values=True)
        cursor = query.get("cursor", [None])[0]
        reply = self._endpoint(method, name, query, headers, page_number(cursor))
        reply.delay += self.latency
        with self._stats_lock:
            self._requests[name] += 1
            self._statuses[str(reply.status) if not reply.drop else "dropped"] += 1
            self._cpu_seconds += time.thread_time() - started
        return reply

    def _endpoint(
        self,
        method: str,
        name: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        page: int,
    ) -> Reply:
        if self.rate_limit is not None and (wait := self.rate_limit.retry_after()):
            return error_reply(429, "Rate limit exceeded; retry later.", {"Retry-After": str(wait)})
        fault = self.faults.take(name, page)
        if fault is not None and fault.kind == "status":
            return _status_fault(fault)
        if fault is not None and fault.kind == "close":
            return Reply(0, drop=True)
        reply = self._authorized(method, name, query, headers)
        if fault is not None:
            reply = _corrupt(fault, reply)
        return reply

    def _authorized(
        self, method: str, name: str, query: dict[str, list[str]], headers: Mapping[str, str]
    ) -> Reply:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        presented = token.strip().encode()
        if scheme.lower() != "bearer" or not presented:
            return _unauthorized()
        if any(hmac.compare_digest(presented, t) for t in self._no_scope_tokens):
            return error_reply(403, "The access token lacks the read scope.")
        if not hmac.compare_digest(presented, self._token):
            return _unauthorized()
        if method != "GET":
            return error_reply(405, "Only GET is allowed here.", {"Allow": "GET"})
        if name == "me":
            return Reply(200, orjson.dumps(ME))
        return self._list(name, query)

    def _list(self, endpoint: str, query: dict[str, list[str]]) -> Reply:
        limit_text = query.get("limit", [str(DEFAULT_LIMIT)])[0]
        if not _LIMIT.fullmatch(limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
            return error_reply(400, f"limit must be an integer from 1 to {MAX_LIMIT}.")
        since_us = None
        if "updated_since" in query:
            try:
                since_us = parse_instant_us(query["updated_since"][0])
            except ValueError:
                return error_reply(400, "updated_since must be an ISO-8601 timestamp.")
        try:
            page = self.store.page(
                endpoint, since_us, int(limit_text), query.get("cursor", [None])[0]
            )
        except CursorError as error:
            return error_reply(400, f"cursor: {error}.")
        with self._stats_lock:
            self._rows[endpoint] += len(page.texts)
        return Reply(200, page.body())

    # --- control ----------------------------------------------------------------------

    def _control(self, method: str, action: str, body: bytes) -> Reply:
        try:
            payload = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            return error_reply(400, "body must be JSON")
        if not isinstance(payload, dict):
            return error_reply(400, "body must be a JSON object")
        if (method, action) == ("GET", "faults"):
            return Reply(200, orjson.dumps({"faults": self.faults.pending()}))
        if (method, action) == ("POST", "faults"):
            try:
                faults = [Fault.from_dict(f) for f in payload.get("faults", [])]
            except (TypeError, ValueError) as error:
                return error_reply(400, str(error))
            self.faults.set(faults)
            return Reply(200, orjson.dumps({"faults": self.faults.pending()}))
        if (method, action) == ("POST", "mutate"):
            rounds = payload.get("rounds", 1)
            if not isinstance(rounds, int) or rounds < 1:
                return error_reply(400, "rounds must be a positive integer")
            summaries = [self.store.mutate() for _ in range(rounds)]
            return Reply(200, orjson.dumps({"rounds": summaries}))
        if (method, action) == ("POST", "commit_late"):
            try:
                record = self.store.commit_late(
                    payload["endpoint"],
                    payload["id"],
                    payload.get("changes", {}),
                    int(payload["seconds_late"]),
                )
            except (KeyError, TypeError, ValueError) as error:
                return error_reply(400, f"commit_late: {error}")
            return Reply(200, orjson.dumps(record))
        if (method, action) == ("POST", "reset"):
            self.reset()
            return Reply(200, b'{"ok":true}')
        if (method, action) == ("GET", "stats"):
            return Reply(200, orjson.dumps(self.stats()))
        return error_reply(404, "Unknown control endpoint.")

    def reset(self) -> None:
        """Back to the initial state: no mutations, no faults, zero statistics."""
        self.store.reset()
        self.faults.set([])
        self.faults.fired = 0
        self.reset_stats()


def _unauthorized() -> Reply:
    # The message never repeats the presented token.
    return error_reply(
        401,
        "The access token is missing, invalid or revoked.",
        {"WWW-Authenticate": 'Bearer realm="ecosystems"'},
    )


def _status_fault(fault: Fault) -> Reply:
    if fault.status == 429:
        return error_reply(
            429, "Rate limit exceeded; retry later.", {"Retry-After": str(fault.retry_after)}
        )
    if fault.status < 500 or fault.body == "json":
        return error_reply(fault.status, "Injected fault.")
    if fault.body == "empty":
        return Reply(fault.status, b"", content_type=None)
    title = f"{fault.status} {_REASONS.get(fault.status, 'Server Error')}"
    html = (
        f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
        "</center><hr><center>nginx</center></body></html>"
    )
    return Reply(fault.status, html.encode(), content_type="text/html")


def _corrupt(fault: Fault, reply: Reply) -> Reply:
    """Apply a body-level fault to a successful reply (errors pass unchanged)."""
    if fault.kind == "hang":
        reply.delay = fault.seconds
        return reply
    if reply.status != 200:
        return reply
    if fault.kind == "malformed_json":
        reply.body = reply.body[: max(1, len(reply.body) // 2)]
    elif fault.kind == "missing_data":
        reply.body = b'{"items":[]}'
    elif fault.kind == "data_not_list":
        reply.body = b'{"data":{"id":"unexpected"},"next_cursor":null}'
    return reply
