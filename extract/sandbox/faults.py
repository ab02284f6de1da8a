"""Fault injection: the next N matching requests misbehave in one chosen way."""

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

FAULT_KINDS = (
    "status",  # answer `status` (429 with Retry-After and a JSON error; 5xx with HTML or empty)
    "malformed_json",  # a 200 page whose body is cut in half
    "missing_data",  # a 200 `{"items": []}` without `data`
    "data_not_list",  # a 200 page whose `data` is an object
    "hang",  # sleep `seconds` before answering normally, to trigger client timeouts
    "close",  # close the connection without answering
)
FAULT_ENDPOINTS = ("me", "documents", "value_drivers", "kpis")


@dataclass
class Fault:
    """One switchable fault; `count` requests to `endpoint` (any if None) from page `from_page` on.

    Page 1 is a request without a cursor, so `from_page=2` hits only requests that carry one.
    """

    kind: str
    count: int = 1
    endpoint: str | None = None
    from_page: int = 1
    status: int = 503
    retry_after: int = 1
    body: str = "html"  # body of a 5xx: "html", "empty" or "json"
    seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if self.endpoint is not None and self.endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(FAULT_ENDPOINTS)} or null")
        if not 400 <= self.status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        if self.body not in ("html", "empty", "json"):
            raise ValueError("body must be html, empty or json")
        if self.count < 1 or self.from_page < 1 or self.retry_after < 0 or self.seconds < 0:
            raise ValueError("count and from_page must be >= 1, retry_after and seconds >= 0")

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "Fault":
        """Build from a JSON object of the control endpoint; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**payload)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultBoard:
    """The pending faults; each matching request uses up one count of the first match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired = 0

    def set(self, faults: list[Fault]) -> None:
        """Replace every pending fault (an empty list clears them)."""
        with self._lock:
            self._faults = [Fault(**f.to_dict()) for f in faults]

    def take(self, endpoint: str, page: int) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.endpoint in (None, endpoint)) and page >= fault.from_page:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    self.fired += 1
                    return Fault(**{**fault.to_dict(), "count": 1})
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_dict() for fault in self._faults]
