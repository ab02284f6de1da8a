"""The lookback window: records read again before the cursor reach dlt only when new.

Ecosystems commits writes late (a record can appear up to 5 minutes after its
`updated_at`), so every listing starts that long before the newest `updated_at` loaded.
The versions loaded in that window are kept in the resource's state as a content hash per
id: a record read again as it was is dropped here, so it writes no raw row, moves no load
id and triggers no dbt build. The state moves with the load, like the cursor.
"""

import hashlib
from collections.abc import MutableMapping
from datetime import datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

STATE_KEY = "lookback_window"


def record_version(record: dict[str, Any]) -> str:
    """A short hash of a record's content as loaded (every column, `updated_at` included)."""
    text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(text, digest_size=12).hexdigest()


class LookbackWindow:
    """What one listing loaded in the last `seconds` before its newest `updated_at`."""

    def __init__(self, resource_state: MutableMapping[str, Any], seconds: float) -> None:
        self._state = resource_state
        self._loaded: dict[str, str] = resource_state.get(STATE_KEY, {}).get("versions", {})
        self._loaded_ids = pa.array(list(self._loaded), pa.string())
        self._window = timedelta(seconds=seconds)
        self._newest: datetime | None = None
        # the pages that can still hold records of the final window (listings are ordered)
        self._tail: list[tuple[datetime, pa.Table]] = []

    def new_versions(self, page: pa.Table) -> pa.Table:
        """The records of `page` whose version is not loaded already."""
        self._remember(page)
        if not self._loaded or not page.num_rows:
            return page
        known = pc.fill_null(pc.is_in(page["id"], value_set=self._loaded_ids), False)
        if not pc.any(known).as_py():
            return page
        unchanged = [
            record["id"]
            for record in page.filter(known).to_pylist()
            if self._loaded[record["id"]] == record_version(record)
        ]
        if not unchanged:
            return page
        dropped = pc.is_in(page["id"], value_set=pa.array(unchanged, pa.string()))
        return page.filter(pc.invert(pc.fill_null(dropped, False)))

    def close(self) -> None:
        """Keep the versions of the window that ends at the newest `updated_at` read."""
        if self._newest is None:
            return  # nothing listed: the window has not moved
        since = self._newest - self._window
        versions: dict[str, str] = {}
        for _, page in self._tail:
            in_window = pc.fill_null(pc.greater_equal(page["updated_at"], since), False)
            for record in page.filter(in_window).to_pylist():
                versions[record["id"]] = record_version(record)
        self._state[STATE_KEY] = {"versions": versions}

    def _remember(self, page: pa.Table) -> None:
        newest = pc.max(page["updated_at"]).as_py() if page.num_rows else None
        if newest is None:
            return
        self._newest = newest if self._newest is None else max(self._newest, newest)
        self._tail.append((newest, page))
        since = self._newest - self._window
        self._tail = [(last, kept) for last, kept in self._tail if last >= since]
