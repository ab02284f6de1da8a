"""API faults injected with the sandbox's fault switches: a failed run keeps everything as it
was (raw tables, goals, the incremental cursor) and says why in one line; retried faults are
reported while the run waits; the run after the faults converges to a clean run's result."""

import re
import socket
import time

import pytest
from faults_support import (
    TOKEN,
    clean_run,
    copy_database,
    mutated_sandbox,
    result,
    run_environment,
    runs,
    snapshot,
)

from extract.sandbox import Fault
from extract.sandbox.store import Page
from goalsync import cli


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """(baseline database, clean result after one sandbox mutation round)."""
    root = tmp_path_factory.getbasetemp()
    return clean_run(0, root)[0], clean_run(1, root)[1]


@pytest.fixture(scope="module")
def sandbox():
    with mutated_sandbox(1) as server:  # one round of changes the failed runs never load
        yield server


@pytest.fixture
def database(tmp_path, clean):
    """Each test's own copy of the baseline: a run that converges changes it."""
    return copy_database(clean[0], tmp_path / "goalsync.duckdb")


@pytest.fixture(autouse=True)
def environment(monkeypatch, sandbox, database):
    for name, value in run_environment(database, sandbox.base_url).items():
        monkeypatch.setenv(name, value)
    yield
    sandbox.set_faults()


def run_failing(database, capsys) -> tuple[str, str, float]:
    """Run the default chain, expect Failed; returns (the run's message, output, seconds)."""
    before = snapshot(database)
    last_run = runs(database)[-1][0]
    started = time.monotonic()
    assert cli.main(["run"]) == cli.EXIT_FAILED
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    output = captured.out + captured.err
    run_id, status, message = runs(database)[-1]
    assert (run_id, status) == (last_run + 1, "Failed")
    assert "\n" not in message and f"CS Goal Sync: {message}" in output
    assert snapshot(database) == before  # raw tables, goals, rejections, cursor state
    assert TOKEN not in output
    return message, output, seconds


@pytest.mark.parametrize(
    ("faults", "settings", "reason", "progress"),
    [
        pytest.param(
            [Fault("status", status=429, retry_after=30, count=9, endpoint="kpis", from_page=2)],
            {"SOURCES__ECOSYSTEMS__MAX_RETRY_DELAY": "0.5"},
            r"GET /kpis page 2: Ecosystems kept rate-limiting the requests \(429\) "
            r"after every retry",
            [
                r"rate limited by /kpis page 2, waiting 0\.5s \(retry 1 of 2\)",
                r"rate limited by /kpis page 2, waiting 0\.5s \(retry 2 of 2\)",
            ],
            id="429-storm-retry-after-capped",
        ),
        pytest.param(
            [Fault("status", status=503, count=9, endpoint="value_drivers", from_page=2)],
            {},
            r"GET /value_drivers page 2: Ecosystems answered HTTP 503 \(after every retry\)",
            [r"/value_drivers page 2: HTTP 503, retrying in 0s \(retry 2 of 2\)"],
            id="5xx-burst",
        ),
        pytest.param(
            [Fault("hang", seconds=2, count=9, endpoint="kpis", from_page=3)],
            {},
            r"GET /kpis page 3: the Ecosystems API did not answer in time \(request timeout\)",
            [r"/kpis page 3: no answer within 1s \(request timeout\), retrying in 0s"],
            id="server-stops-answering-mid-listing",
        ),
        pytest.param(
            [Fault("close", count=9, endpoint="documents")],
            {},
            r"GET /documents page 1: cannot reach the Ecosystems API",
            [r"/documents page 1: connection failed, retrying in 0s \(retry 1 of 2\)"],
            id="connection-dropped",
        ),
        pytest.param(
            [Fault("malformed_json", endpoint="kpis", from_page=2)],
            {},
            r"GET /kpis page 2: response is not valid JSON",
            [],
            id="malformed-json",
        ),
        pytest.param(
            [Fault("missing_data", endpoint="value_drivers", from_page=2)],
            {},
            r"GET /value_drivers page 2: response breaks the API contract: "
            r"expected an object with a 'data' list",
            [],
            id="missing-data",
        ),
        pytest.param(
            [Fault("data_not_list", endpoint="documents")],
            {},
            r"GET /documents page 1: response breaks the API contract",
            [],
            id="data-not-a-list",
        ),
    ],
)
def test_api_fault_fails_the_run_in_one_line_and_keeps_everything(
    faults, settings, reason, progress, sandbox, database, monkeypatch, capsys
):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    fired = sandbox.stats()["faults_fired"]
    sandbox.set_faults(*faults)
    message, output, seconds = run_failing(database, capsys)
    assert re.fullmatch(reason + ".*", message)
    assert sandbox.stats()["faults_fired"] > fired
    for line in progress:
        assert re.search(line, output), line
    if progress and "429" in reason:
        # Retry-After 30 honoured but capped at 0.5 s: two waits, far below 30 s
        assert 1.0 <= seconds < 15


def test_connection_refused_fails_the_run_and_keeps_everything(database, monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    monkeypatch.setenv("SOURCES__ECOSYSTEMS__BASE_URL", f"http://127.0.0.1:{port}/v1")
    message, output, _ = run_failing(database, capsys)
    assert re.fullmatch(
        r"GET /(documents|value_drivers|kpis) page 1: cannot reach the Ecosystems API .*", message
    )
    assert "connection failed, retrying" in output


def test_a_page_with_a_wrongly_typed_cursor_fails_the_run(sandbox, database, monkeypatch, capsys):
    serve = sandbox.store.page

    def page_with_numeric_cursor(endpoint, since_us, limit, cursor=None):
        served = serve(endpoint, since_us, limit, cursor)
        return Page(served.texts, 12345) if endpoint == "kpis" and cursor else served

    monkeypatch.setattr(sandbox.store, "page", page_with_numeric_cursor)
    message, _, _ = run_failing(database, capsys)
    assert message == (
        "GET /kpis page 2: response breaks the API contract: 'next_cursor' is not a string"
    )


def test_after_the_faults_a_run_through_transient_ones_converges_to_a_clean_run(
    sandbox, database, clean, capsys
):
    sandbox.set_faults(
        Fault("status", status=429, retry_after=1, count=2, endpoint="kpis", from_page=2),
        Fault("status", status=503, body="html", endpoint="value_drivers", from_page=2),
        Fault("status", status=500, body="empty", endpoint="value_drivers", from_page=2),
        Fault("hang", seconds=2, endpoint="documents"),
        Fault("close", endpoint="kpis", from_page=3),
    )
    assert cli.main(["run"]) == cli.EXIT_OK
    output = capsys.readouterr().out
    assert sandbox.pending_faults() == []  # every fault fired
    for line in (
        r"rate limited by /kpis page 2, waiting 1s \(retry 1 of 2\)",
        r"rate limited by /kpis page 2, waiting 1s \(retry 2 of 2\)",
        r"/value_drivers page 2: HTTP 503, retrying in 0s \(retry 1 of 2\)",
        r"/value_drivers page 2: HTTP 500, retrying in 0s \(retry 2 of 2\)",
        r"/documents page 1: no answer within 1s \(request timeout\), retrying",
        r"/kpis page 3: connection failed, retrying",
    ):
        assert re.search(line, output), line
    assert runs(database)[-1][1] in ("Success", "Partial Success")
    assert result(database) == clean[1]
