"""The benchmark at a tiny scale: it runs, and its numbers agree. No timing asserts."""

import dataclasses

import pytest

from benchmarks.harness import CHANGED, FLOOR, FULL_SYNC, Benchmark, BenchmarkResult
from benchmarks.report import NOTES_MARKER, render, write_results
from extract.sandbox import SandboxScale, served_counts

SCALE = SandboxScale.for_kpis(400)
SERVED = sum(served_counts(SCALE).values())
# the floor runs last, after the sandbox's one mutation round
FLOOR_SERVED = served_counts(SCALE, rounds=1)


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> BenchmarkResult:
    work_dir = tmp_path_factory.mktemp("benchmark")
    # quick: no warm-up, no no-change rerun (its path is the changed rerun's, minus changes)
    return Benchmark(SCALE, work_dir, echo=lambda line: None, quick=True).run()


def test_rows_counted_equal_rows_served(result):
    assert result.problems == []
    measurements = result.measurements
    assert measurements[FLOOR].details["records"] == FLOOR_SERVED
    assert measurements[FLOOR].records == measurements[FLOOR].served == sum(FLOOR_SERVED.values())
    assert measurements[FULL_SYNC].records == measurements[FULL_SYNC].served == SERVED
    assert measurements[CHANGED].records == measurements[CHANGED].served
    # a rerun reads what changed (and what the incremental lag window re-reads)
    assert 0 < measurements[CHANGED].records < SERVED


def test_the_incremental_rerun_ends_where_the_floor_starts_from_scratch(result):
    floor, last = result.measurements[FLOOR].details, result.measurements[CHANGED].details
    final = last["final"]
    assert floor["goals"] == final["goals"] > 0
    assert floor["goals_fingerprint"] == final["goals_fingerprint"]
    assert floor["errors"] == final["errors"] > 0
    assert floor["errors_fingerprint"] == final["errors_fingerprint"]


def test_the_report_and_the_results_file(result, tmp_path):
    text = render(result)
    for name in (FLOOR, FULL_SYNC, CHANGED):
        assert f"| {name} |" in text
    assert "cores" in text and "memory" in text
    results = tmp_path / "results.md"
    results.write_text(f"old figures\n{NOTES_MARKER}\nhand-written analysis\n")
    write_results(result, results)
    written = results.read_text()
    assert "old figures" not in written
    assert written.endswith(f"{NOTES_MARKER}\nhand-written analysis\n")
    assert "| full sync |" in written


def test_with_latency_the_report_sets_each_sync_against_its_bound(result):
    assert "Latency:" not in render(result)
    slow = dataclasses.replace(result, latency_ms=50.0, parallel_requests=8)
    text = render(slow)
    full = result.measurements[FULL_SYNC]
    assert full.pages >= 3  # a page of each listing at least
    assert "every API answer 50 ms late" in text
    assert f"| {FULL_SYNC} | {full.pages:,} | {full.pages * 0.05 / 8:.1f} |" in text
