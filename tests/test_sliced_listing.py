"""Long listings read in parallel `updated_since` slices: the same records and cursor as a
sequential read, parallelism that yields to 429s, and a failed slice that moves nothing.
Sandbox on loopback, real DuckDB files, the real dlt pipeline."""

import logging
import re
import threading
import time
from pathlib import Path

import duckdb
import pytest

from extract.ecosystems import settings
from extract.ecosystems.slices import RequestBudget
from extract.sandbox import Fault, SandboxScale, SandboxServer
from goalsync.extraction import ExtractionError, make_pipeline, run_extraction

SCALE = SandboxScale.for_kpis(2000)
PAGE_SIZE = 50  # 40 KPI pages: long enough to slice
FAST = {"backoff_factor": 0.0, "max_attempts": 6, "request_timeout": 10.0, "page_size": PAGE_SIZE}
TABLES = ("documents", "value_drivers", "kpis")


@pytest.fixture(autouse=True)
def slice_short_listings(monkeypatch):
    """Slice listings of a few hundred records (real ones slice from ten thousand on)."""
    monkeypatch.setattr(settings, "SLICE_MIN_RECORDS", 100)


def extract(sandbox: SandboxServer, database: Path, **options: object) -> dict[str, int]:
    result = run_extraction(database, sandbox.token, sandbox.base_url, **{**FAST, **options})
    return result.rows_read


def raw_rows(database: Path) -> dict[str, list[tuple]]:
    """Every raw table without dlt's own columns, in id order."""
    rows = {}
    with duckdb.connect(str(database), read_only=True) as connection:
        for table in TABLES:
            columns = [
                name
                for (name,) in connection.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'ecosystems_raw' and table_name = ? "
                    "and column_name not like '\\_dlt%' escape '\\' order by column_name",
                    [table],
                ).fetchall()
            ]
            rows[table] = connection.execute(
                f"select {', '.join(columns)} from ecosystems_raw.{table} order by id"
            ).fetchall()
    return rows


def cursors(database: Path) -> dict[str, object]:
    """Each resource's incremental state: the cursor and the lookback window's versions."""
    resources = make_pipeline(database).state["sources"]["ecosystems"]["resources"]
    return {
        name: (
            state["incremental"]["updated_at"]["last_value"],
            state.get("lookback_window", {}).get("versions"),
        )
        for name, state in resources.items()
    }


def kpi_requests(sandbox: SandboxServer) -> int:
    return sandbox.stats()["requests"].get("kpis", 0)


def test_a_sliced_read_loads_what_a_sequential_read_loads_and_moves_the_cursor_alike(tmp_path):
    sequential, sliced = tmp_path / "sequential.duckdb", tmp_path / "sliced.duckdb"
    with SandboxServer(SCALE) as sandbox:
        read = extract(sandbox, sequential, parallel_requests=1)
        assert kpi_requests(sandbox) == SCALE.kpis // PAGE_SIZE  # one request a page
        sandbox.api.reset_stats()
        # each slice opens with a page of its own: more requests than pages, the same records
        assert extract(sandbox, sliced) == read
        assert kpi_requests(sandbox) > SCALE.kpis // PAGE_SIZE
        assert raw_rows(sliced) == raw_rows(sequential)
        assert cursors(sliced) == cursors(sequential)
        for _ in range(12):  # enough changes after the cursor to slice the rerun too
            sandbox.mutate()
        sandbox.api.reset_stats()
        read = extract(sandbox, sequential, parallel_requests=1)
        rerun_pages = kpi_requests(sandbox)
        sandbox.api.reset_stats()
        assert extract(sandbox, sliced) == read
        assert kpi_requests(sandbox) > rerun_pages
        assert raw_rows(sliced) == raw_rows(sequential)
        assert cursors(sliced) == cursors(sequential)


def test_a_429_storm_lowers_the_requests_in_flight_and_the_read_completes(tmp_path, caplog):
    sequential, sliced = tmp_path / "sequential.duckdb", tmp_path / "sliced.duckdb"
    with SandboxServer(SCALE, latency_ms=20) as sandbox:
        extract(sandbox, sequential, parallel_requests=1)
    caplog.set_level(logging.INFO, logger="extract.ecosystems.helpers")
    # eight requests of 20 ms at once ask about 400 a second: far past ten
    with SandboxServer(SCALE, latency_ms=20, rate=10) as sandbox:
        extract(sandbox, sliced, parallel_requests=8, max_attempts=10)
        assert sandbox.stats()["statuses"].get("429", 0) > 0
    lowered = [
        int(match.group(1))
        for record in caplog.records
        if (match := re.search(r"(\d+) requests? at once from now", record.getMessage()))
    ]
    assert lowered and min(lowered) < 8
    assert raw_rows(sliced) == raw_rows(sequential)


def test_a_failed_slice_fails_the_extraction_and_moves_no_cursor(tmp_path):
    database, reference = tmp_path / "goalsync.duckdb", tmp_path / "sequential.duckdb"
    with SandboxServer(SCALE) as sandbox:
        extract(sandbox, database)
        extract(sandbox, reference, parallel_requests=1)
        before, cursor = raw_rows(database), cursors(database)
        for _ in range(12):
            sandbox.mutate()
        # every second page of a KPI slice fails, after every retry
        sandbox.set_faults(Fault("status", count=10_000, endpoint="kpis", from_page=2, status=500))
        with pytest.raises(ExtractionError) as failure:
            extract(sandbox, database)
        message = str(failure.value)
        assert re.search(r"GET /kpis page \d+: Ecosystems answered HTTP 500", message), message
        assert "\n" not in message
        assert raw_rows(database) == before
        assert cursors(database) == cursor
        sandbox.set_faults()
        extract(sandbox, database)
        extract(sandbox, reference, parallel_requests=1)
    assert raw_rows(database) == raw_rows(reference)
    assert cursors(database) == cursors(reference)


def test_the_budget_halves_on_a_429_once_per_round_and_climbs_back_slowly():
    budget = RequestBudget(8)
    with budget.request() as early, budget.request() as late:
        budget.rate_limited(early)
        assert budget.limit == 4
        budget.rate_limited(late)  # in flight before the cut: the same congestion
        assert budget.limit == 4
    with budget.request() as after:
        pass
    budget.rate_limited(after)
    assert budget.limit == 2
    for _ in range(2 + 3 + 4 + 5 + 6 + 7):
        with budget.request():
            pass
    assert budget.limit == 8 and budget.lowest == 2


def test_the_budget_holds_requests_past_its_limit():
    budget = RequestBudget(2)
    budget.limit = 1
    most, in_flight, lock = 0, 0, threading.Lock()

    def one_request() -> None:
        nonlocal most, in_flight
        with budget.request():
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            time.sleep(0.02)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=one_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most <= 2  # one at first, two once a round of answers came back clean
    assert settings.PARALLEL_REQUESTS == 8
