"""One listing read in parallel `updated_since` slices, as many requests at once as the API bears.

A listing is ordered by (`updated_at`, `id`), so the slice `[start, end)` is the listing from
`updated_since=start` up to its first record at or after `end`, where the next slice begins:
together the slices hold exactly the records of one sequential listing. The first page,
read before any slice, bounds them: it gives the listing's start, its density (records per
second of `updated_at`) and so whether slicing pays at all; the slices then split the span
from its last record to now, the last one open-ended. A worker with nothing left to read
halves the slice with the most records still ahead of it, so skewed listings balance too.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.helpers.rest_client.client import PageData

from . import settings
from .helpers import RecordProblem, parse_timestamp

ShapePage = Callable[[PageData[Any]], tuple[pa.Table | None, list[RecordProblem]]]
"""A page of `iter_pages` as its Arrow table (None for an empty page) and its problems."""

ListedPage = tuple[int, pa.Table | None]
"""(records of the page that belong to the listing, their table)."""


class RequestBudget:
    """How many requests the source has in flight: halved on a 429, one more after a round
    of answers without one (additive increase, multiplicative decrease)."""

    def __init__(self, most: int) -> None:
        self.most = max(1, most)
        self.limit = self.most
        self.lowest = self.most
        self.rate_limited_answers = 0
        self._in_flight = 0
        self._answered = 0  # answers since the limit last changed
        self._cut_at = 0.0  # when the limit was last halved
        self._condition = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[float]:
        """Hold one of the `limit` places for a request (and its retries); yields its start."""
        with self._condition:
            while self._in_flight >= self.limit:
                self._condition.wait()
            self._in_flight += 1
        answered = False
        try:
            yield time.monotonic()
            answered = True
        finally:
            with self._condition:
                self._in_flight -= 1
                if answered:
                    self._answered += 1
                    if self._answered >= self.limit and self.limit < self.most:
                        self.limit += 1
                        self._answered = 0
                self._condition.notify_all()

    def rate_limited(self, request_started: float) -> int | None:
        """A 429: halve the limit, once for all the requests that were already in flight;
        returns the new limit, or None when this 429 changes nothing."""
        with self._condition:
            self.rate_limited_answers += 1
            if request_started < self._cut_at or self.limit == 1:
                return None
            self.limit = max(1, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
            self._answered = 0
            self._cut_at = time.monotonic()
            return self.limit


@dataclass
class _Slice:
    """`[start, end)` of a listing; `end` None is open-ended. Moves on as pages arrive."""

    start: datetime
    end: datetime | None
    pages: Iterator[PageData[Any]] | None = None  # the first slice goes on from the first page
    position: datetime | None = None  # the newest `updated_at` read so far
    records: int = 0
    taken: bool = False
    done: bool = False

    def ahead(self, horizon: datetime) -> float:
        """Estimated records still to read: the density so far over the span left."""
        if self.done or self.position is None or self.position <= self.start:
            return 0.0
        end = self.end if self.end is not None else max(horizon, self.position)
        density = self.records / (self.position - self.start).total_seconds()
        return density * (end - self.position).total_seconds()


class SlicedListing:
    """Reads one listing after its first page in parallel slices (see the module docstring)."""

    def __init__(
        self,
        open_slice: Callable[[datetime], Iterator[PageData[Any]]],
        shape: ShapePage,
        report: Callable[[RecordProblem], None],
        workers: int,
        page_size: int,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`open_slice(start)` opens the pages of the listing from `updated_since=start`,
        on a client of the calling thread."""
        self._open_slice = open_slice
        self._shape = shape
        self._report = report
        self._workers = max(1, workers)
        self._page_size = page_size
        self._slices: list[_Slice] = []
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._out: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2 * self._workers)
        self._horizon = now()

    def plan(self, first_page: pa.Table | None, rest: Iterator[PageData[Any]]) -> bool:
        """Lay out the slices after the first page; False when one sequential read is better."""
        if self._workers < 2 or first_page is None or first_page.num_rows < self._page_size:
            return False
        first, last = pc.min(first_page["updated_at"]).as_py(), pc.max(first_page["updated_at"])
        last = last.as_py()
        if first is None or last is None:
            return False
        span = (last - first).total_seconds()
        horizon = max(self._horizon, last + max(last - first, timedelta(seconds=1)))
        ahead = first_page.num_rows * (horizon - last).total_seconds() / span if span else 1e18
        ahead_pages = ahead / self._page_size
        if ahead < settings.SLICE_MIN_RECORDS or ahead_pages < settings.SLICE_MIN_PAGES:
            return False
        count = int(min(self._workers, ahead_pages // (settings.SLICE_MIN_PAGES / 2)))
        step = (horizon - last) / count
        bounds = [last + step * k for k in range(1, count)]
        first_slice = _Slice(first, bounds[0] if bounds else None, rest, last)
        first_slice.records = first_page.num_rows
        self._slices = [first_slice]
        for start, end in zip(bounds, [*bounds[1:], None], strict=True):
            self._slices.append(_Slice(start, end))
        self._horizon = horizon
        return True

    def pages(self) -> Iterator[ListedPage]:
        """The pages of every slice as they arrive; the first failure stops all and is raised."""
        threads = [
            threading.Thread(target=self._work, name=f"ecosystems-slice-{n}", daemon=True)
            for n in range(self._workers)
        ]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                kind, value = self._out.get()
                if kind == "page":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    running -= 1
        finally:
            self._stopping.set()
            with self._condition:
                self._condition.notify_all()
            for thread in threads:
                while thread.is_alive():
                    self._drain()
                    thread.join(timeout=0.05)

    def _drain(self) -> None:
        try:
            while True:
                self._out.get_nowait()
        except queue.Empty:
            return

    def _emit(self, kind: str, value: Any) -> bool:
        while not self._stopping.is_set():
            try:
                self._out.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            while (piece := self._take()) is not None:
                self._read(piece)
        except Exception as error:  # the generator raises it in the extracting thread
            self._emit("error", error)
        finally:
            self._emit("done", None)

    def _take(self) -> _Slice | None:
        """An unread slice, else half of the one with the most ahead; None when all is read."""
        with self._condition:
            while not self._stopping.is_set():
                for piece in self._slices:
                    if not piece.taken:
                        piece.taken = True
                        return piece
                if all(piece.done for piece in self._slices):
                    return None
                widest = max(self._slices, key=lambda piece: piece.ahead(self._horizon))
                if widest.ahead(self._horizon) >= settings.SLICE_MIN_PAGES * self._page_size:
                    assert widest.position is not None
                    end = widest.end if widest.end is not None else self._horizon
                    middle = widest.position + (end - widest.position) / 2
                    if middle <= widest.position:  # a span of a microsecond splits no further
                        self._condition.wait()
                        continue
                    half = _Slice(middle, widest.end, taken=True)
                    widest.end = middle
                    self._slices.append(half)
                    return half
                self._condition.wait()
            return None

    def _read(self, piece: _Slice) -> None:
        pages = piece.pages if piece.pages is not None else self._open_slice(piece.start)
        try:
            for page in pages:
                table, problems = self._shape(page)
                newest = pc.max(table["updated_at"]).as_py() if table is not None else None
                with self._condition:
                    end = piece.end
                    piece.records += len(page)
                    if newest is not None:
                        piece.position = max(piece.position or newest, newest)
                    self._condition.notify_all()
                listed = len(page)
                past_end = end is not None and newest is not None and newest >= end
                if past_end:
                    assert table is not None and end is not None
                    # the records from `end` on are the next slice's first ones
                    before = pc.fill_null(pc.less(table["updated_at"], end), True)
                    listed -= table.num_rows
                    table = table.filter(before)
                    listed += table.num_rows
                    problems = [p for p in problems if not _at_or_after(p.record, end)]
                for problem in problems:
                    self._report(problem)
                if not self._emit("page", (listed, table)) or past_end:
                    break
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
            with self._condition:
                piece.done = True
                self._condition.notify_all()


def _at_or_after(record: Any, end: datetime) -> bool:
    """Whether a record's `updated_at` puts it in a later slice (reported there, not here)."""
    text = record.get("updated_at") if isinstance(record, dict) else None
    instant = parse_timestamp(text) if isinstance(text, str) else None
    return instant is not None and instant >= end
