"""What the sandbox serves: generated base records plus a small overlay of mutated ones.

Mutation timestamps are later than every base record, so a listing is the base records
(index order, minus the replaced ones) followed by the overlay sorted by (updated_at, id).
"""

import base64
import binascii
import bisect
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from extract.sandbox import catalog, clock
from extract.sandbox.data import ADDED_PER_ROUND, ENDPOINTS, SandboxData


class CursorError(ValueError):
    """The cursor is not one this endpoint handed out."""


@dataclass(frozen=True)
class Position:
    """Where a page ends: the (updated_at, id) key of its last record, and its page number."""

    endpoint: str
    page: int
    instant: int
    record_id: str

    def encode(self) -> str:
        raw = f"{self.endpoint}:{self.page}:{self.instant}:{self.record_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str, endpoint: str) -> "Position":
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            name, page, instant, record_id = raw.split(":")
            position = cls(name, int(page), int(instant), record_id)
        except (ValueError, binascii.Error, UnicodeDecodeError) as error:
            raise CursorError("cursor is not valid") from error
        if name != endpoint or position.page < 2:
            raise CursorError("cursor belongs to another listing")
        return position


def page_number(cursor: str | None) -> int:
    """Page number a request asks for: 1 without a cursor, 2 for an unreadable one."""
    if not cursor:
        return 1
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return max(2, int(raw.split(":")[1]))
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError):
        return 2


@dataclass(frozen=True)
class Page:
    """One page of a listing: record JSON texts in order and the cursor of the next page."""

    texts: list[str]
    next_cursor: str | None

    def body(self) -> bytes:
        """`{"data": [...], "next_cursor": ...}` as compact JSON, built with a single join."""
        head, tail = '{"data":[', '],"next_cursor":' + orjson.dumps(self.next_cursor).decode() + "}"
        if not self.texts:
            return (head + tail).encode()
        # A page is ~0.5 MB: glue the brackets to the first and last record instead of
        # concatenating whole copies of the body.
        texts = self.texts.copy()
        texts[0] = head + texts[0]
        texts[-1] += tail
        return ",".join(texts).encode()


@dataclass(frozen=True)
class _OverlayView:
    """Immutable snapshot of one endpoint's overlay, swapped in whole after a mutation."""

    keys: list[tuple[int, str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    replaced: frozenset[int] = frozenset()


class SandboxStore:
    """Pages and mutations over one `SandboxData`; safe to read from many threads."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every mutation."""
        with self._lock:
            self.rounds = 0
            # id -> (updated_at instant, record, JSON text); base records are never stored
            self._changed: dict[str, dict[str, tuple[int, dict[str, Any], str]]] = {
                endpoint: {} for endpoint in ENDPOINTS
            }
            self._added = dict.fromkeys(ENDPOINTS, 0)
            self._views = {endpoint: _OverlayView() for endpoint in ENDPOINTS}

    # --- reading ----------------------------------------------------------------------

    def page(
        self, endpoint: str, since_us: int | None, limit: int, cursor: str | None = None
    ) -> Page:
        """Records with updated_at >= since (inclusive) after the cursor, at most `limit`."""
        position = Position.decode(cursor, endpoint) if cursor else None
        view = self._views[endpoint]
        since = None if since_us is None else -(-since_us // 1_000_000)  # ceil to seconds
        need = limit + 1  # one more than asked tells whether a next page exists
        base = self._base_indices(endpoint, view.replaced, since, position, need)
        start = 0 if since is None else bisect.bisect_left(view.keys, (since, ""))
        if position is not None:
            start = max(
                start, bisect.bisect_right(view.keys, (position.instant, position.record_id))
            )
        stop = min(len(view.keys), start + need - len(base))
        has_more = len(base) + stop - start > limit
        base = base[:limit]
        stop = min(stop, start + limit - len(base))

        texts = self.data.texts(endpoint, base) + view.texts[start:stop]
        if not has_more:
            return Page(texts, None)
        if stop > start:
            instant, record_id = view.keys[stop - 1]
        else:
            instant = self.data.updated_at(endpoint, base[-1])
            record_id = self.data.id_of(endpoint, base[-1])
        number = position.page + 1 if position else 2
        return Page(texts, Position(endpoint, number, instant, record_id).encode())

    def _base_indices(
        self,
        endpoint: str,
        replaced: frozenset[int],
        since: int | None,
        position: Position | None,
        need: int,
    ) -> list[int]:
        """Up to `need` base indices in served order, found by binary search on updated_at."""
        data, total = self.data, self.data.count(endpoint)
        indices = range(1, total + 1)
        first = 1
        if since is not None:
            first = (
                bisect.bisect_left(indices, since, key=lambda n: data.updated_at(endpoint, n)) + 1
            )
        if position is not None:
            after = (position.instant, data.index_of(endpoint, position.record_id) or 0)
            first = max(
                first,
                bisect.bisect_right(indices, after, key=lambda n: (data.updated_at(endpoint, n), n))
                + 1,
            )
        picked: list[int] = []
        n = first
        while n <= total and len(picked) < need:
            stop = min(total + 1, n + need - len(picked))
            if replaced:
                picked.extend(i for i in range(n, stop) if i not in replaced)
            else:
                picked.extend(range(n, stop))
            n = stop
        return picked

    def iter_records(self, endpoint: str, since_us: int | None = None) -> Iterator[dict]:
        """Every record a full listing serves, in order (for tests and benchmarks)."""
        cursor = None
        while True:
            page = self.page(endpoint, since_us, 1000, cursor)
            yield from (orjson.loads(text) for text in page.texts)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def current(self, endpoint: str, record_id: str) -> dict[str, Any] | None:
        """The record as served now (a tombstone after a delete), or None if it never existed."""
        changed = self._changed[endpoint].get(record_id)
        if changed is not None:
            return orjson.loads(changed[2])
        n = self.data.index_of(endpoint, record_id)
        if n is None or n > self.data.count(endpoint):
            return None
        return self.data.record(endpoint, n)

    # --- mutating ---------------------------------------------------------------------

    def mutate(self) -> dict[str, Any]:
        """Apply the next deterministic round of changes, one later day; returns what changed."""
        with self._lock:
            self.rounds += 1
            return _Round(self, self.rounds).apply()

    def commit_late(
        self, endpoint: str, record_id: str, changes: dict[str, Any], seconds_late: int
    ) -> dict[str, Any]:
        """Publish an edit of a record now, stamped `seconds_late` before the newest
        `updated_at` the listing serves: a write that a replica committed late."""
        with self._lock:
            record = self.current(endpoint, record_id)
            if record is None:
                raise KeyError(f"{endpoint} has no record {record_id!r}")
            instant = self._newest_instant(endpoint) - seconds_late
            record.update(changes)
            record["updated_at"] = clock.render(instant, clock.UTC_Z)
            self._save(endpoint, instant, record)
            self._publish()
            return record

    def _newest_instant(self, endpoint: str) -> int:
        view = self._views[endpoint]
        newest = self.data.updated_at(endpoint, self.data.count(endpoint))
        return max(newest, view.keys[-1][0]) if view.keys else newest

    def _save(self, endpoint: str, instant: int, record: dict[str, Any]) -> None:
        self._changed[endpoint][record["id"]] = (instant, record, orjson.dumps(record).decode())

    def _publish(self) -> None:
        views = {}
        for endpoint, changed in self._changed.items():
            ordered = sorted(
                (instant, record_id, text) for record_id, (instant, _, text) in changed.items()
            )
            total = self.data.count(endpoint)
            replaced = frozenset(
                n
                for record_id in changed
                if (n := self.data.index_of(endpoint, record_id)) is not None and n <= total
            )
            views[endpoint] = _OverlayView(
                [(i, r) for i, r, _ in ordered], [t for _, _, t in ordered], replaced
            )
        self._views = views


class _Round:
    """One mutation round: picks records with a seeded RNG, then stamps each change in order."""

    def __init__(self, store: SandboxStore, number: int) -> None:
        self.store = store
        self.data = store.data
        self.number = number
        self.rng = random.Random(f"goalsync-sandbox-mutation:{self.data.seed}:{number}")
        self.day = clock.MUTATION_DAY0 + (number - 1) * 86400

    def apply(self) -> dict[str, Any]:
        scale, rng = self.data.scale, self.rng
        plan: list[tuple[str, str, str]] = []  # (action, endpoint, id)
        sizes = {
            "update": {
                "documents": max(1, scale.documents // 100),
                "value_drivers": max(2, scale.value_drivers // 200),
                "kpis": max(3, scale.kpis // 100),
            },
            "delete": {"documents": 1, "value_drivers": 1, "kpis": max(2, scale.kpis // 1000)},
        }
        for action in ("update", "delete"):
            for endpoint in ENDPOINTS:
                taken = {record_id for _, e, record_id in plan if e == endpoint}
                for record_id in self._pick(endpoint, sizes[action][endpoint], taken):
                    plan.append((action, endpoint, record_id))
        rng.shuffle(plan)
        added = self._new_ids()
        plan += [
            ("add", endpoint, record_id) for endpoint in ENDPOINTS for record_id in added[endpoint]
        ]

        step = max(1, 10 * 3600 // len(plan))
        summary: dict[str, Any] = {
            "round": self.number,
            "day": clock.render(self.day, clock.OFFSETS[0])[:10],
            "updated": {endpoint: [] for endpoint in ENDPOINTS},
            "deleted": {endpoint: [] for endpoint in ENDPOINTS},
            "added": {endpoint: [] for endpoint in ENDPOINTS},
        }
        for k, (action, endpoint, record_id) in enumerate(plan):
            instant = self.day + 8 * 3600 + k * step
            stamp = clock.render(instant, rng.choice(clock.OFFSETS))
            if action == "delete":
                record = {"id": record_id, "updated_at": stamp, "deleted_at": stamp}
            elif action == "add":
                record = self._added_record(endpoint, record_id, stamp, added)
            else:
                record = self.store.current(endpoint, record_id) or {}
                getattr(self, f"_update_{endpoint}")(record)
                record["updated_at"] = stamp
            self.store._save(endpoint, instant, record)
            summary[{"update": "updated", "delete": "deleted", "add": "added"}[action]][
                endpoint
            ].append(record_id)
        self.store._publish()
        return summary

    def _pick(self, endpoint: str, count: int, taken: set[str]) -> list[str]:
        """`count` distinct live records (base or added) not already in this round's plan."""
        changed = self.store._changed[endpoint]
        population = self.data.count(endpoint) + self.store._added[endpoint]
        picked: list[str] = []
        for _ in range(count * 20):
            if len(picked) == count:
                break
            record_id = self.data.id_of(endpoint, self.rng.randint(1, population))
            entry = changed.get(record_id)
            if record_id in taken or (entry is not None and entry[1].get("deleted_at")):
                continue
            taken.add(record_id)
            picked.append(record_id)
        return picked

    def _new_ids(self) -> dict[str, list[str]]:
        ids = {}
        for endpoint in ENDPOINTS:
            first = self.data.count(endpoint) + self.store._added[endpoint] + 1
            ids[endpoint] = [
                self.data.id_of(endpoint, first + k) for k in range(ADDED_PER_ROUND[endpoint])
            ]
            self.store._added[endpoint] += ADDED_PER_ROUND[endpoint]
        return ids

    def _added_record(
        self, endpoint: str, record_id: str, stamp: str, added: dict[str, list[str]]
    ) -> dict[str, Any]:
        """A new record built like a base one, under this round's new parent."""
        record = self.data.record(endpoint, self.data.index_of(endpoint, record_id) or 1)
        position = added[endpoint].index(record_id)
        if endpoint == "value_drivers":
            record["document_id"] = added["documents"][position % len(added["documents"])]
        elif endpoint == "kpis":
            record["value_driver_id"] = added["value_drivers"][
                position % len(added["value_drivers"])
            ]
        record["created_at"] = record["updated_at"] = stamp
        return record

    def _update_kpis(self, kpi: dict[str, Any]) -> None:
        rng = self.rng
        if rng.random() < 0.7:
            actuals = kpi.setdefault("actuals", [])
            months = sorted(a["measured_on"] for a in actuals)
            latest = months[-1] if months else "2026-09-30"
            month = min(k for k, end in enumerate(_MONTHS) if end >= latest)
            reference = next((a["value"] for a in actuals if a["measured_on"] == latest), None)
            reference = reference if reference is not None else kpi.get("baseline") or 100.0
            actuals.append(
                {
                    "measured_on": _MONTHS[min(month + 1, len(_MONTHS) - 1)],
                    "value": round(reference * rng.uniform(0.93, 1.07), 2),
                }
            )
        else:
            target = kpi.get("target")
            base = target if target is not None else kpi.get("baseline") or 100.0
            kpi["target"] = round(base * rng.uniform(0.9, 1.1), 2)

    def _update_value_drivers(self, driver: dict[str, Any]) -> None:
        total = driver.get("total_benefit")
        driver["total_benefit"] = round((total or 250_000.0) * self.rng.uniform(1.02, 1.2), 2)
        for entry in driver.get("realization_calendar") or []:
            if entry.get("realized_benefit") is None and entry.get("expected_benefit"):
                entry["realized_benefit"] = round(entry["expected_benefit"] * 0.85, 2)
                break

    def _update_documents(self, document: dict[str, Any]) -> None:
        document["status"] = {"draft": "published", "published": "archived"}.get(
            document.get("status"), "published"
        )
        document["last_updated_by"] = self.rng.choice(catalog.USERS).as_json()


_MONTHS = tuple(
    f"{year}-{month:02d}-{day:02d}"
    for year in (2026, 2027)
    for month, day in (
        (1, 31),
        (2, 28),
        (3, 31),
        (4, 30),
        (5, 31),
        (6, 30),
        (7, 31),
        (8, 31),
        (9, 30),
        (10, 31),
        (11, 30),
        (12, 31),
    )
)
