"""The Ecosystems dlt source against recorded-looking responses (requests-mock)."""

import gc
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import requests_mock

from extract.ecosystems import EcosystemsClient
from goalsync.extraction import ExtractionError, run_extraction

BASE_URL = "https://api.example.test/api/v1"
TOKEN = "tok_UNIT_TEST_SECRET_123"
FAST_RETRIES = {"backoff_factor": 0.0, "max_attempts": 5, "request_timeout": 5.0}


def kpi(kpi_id: str, updated_at: str, **fields) -> dict:
    record = {
        "id": kpi_id,
        "value_driver_id": "vd_1",
        "name": f"KPI {kpi_id}",
        "unit": "USD",
        "direction": "decrease",
        "baseline": 52000,
        "target": 40000,
        "actuals": [{"measured_on": "2026-02-28", "value": 48000.0}],
        "created_at": "2026-01-05T10:06:00Z",
        "updated_at": updated_at,
        "deleted_at": None,
    }
    record.update(fields)
    return record


def page(records: list[dict], next_cursor: str | None = None) -> dict:
    return {"data": records, "next_cursor": next_cursor}


def list_url(endpoint: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(BASE_URL)}/{endpoint}(\?.*)?$")


def register_empty(mock: requests_mock.Mocker, *endpoints: str) -> None:
    for endpoint in endpoints:
        mock.get(list_url(endpoint), json=page([]))


def extract_kpis(database: Path, **options: object) -> dict[str, int]:
    result = run_extraction(
        database, TOKEN, BASE_URL, resources=("kpis",), **FAST_RETRIES, **options
    )
    return result.rows_read


def load_ids(database: Path) -> dict[str, str]:
    with duckdb.connect(str(database)) as connection:
        rows = connection.execute("select id, _dlt_load_id from ecosystems_raw.kpis").fetchall()
    return dict(rows)


def raw_kpis(database: Path) -> list[tuple]:
    with duckdb.connect(str(database)) as connection:
        return connection.execute(
            "select id, baseline, target, updated_at, deleted_at is not null "
            "from ecosystems_raw.kpis order by id"
        ).fetchall()


def test_paginates_to_last_page_then_reads_incrementally_without_duplicates(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    with requests_mock.Mocker() as mock:
        mock.get(
            list_url("kpis"),
            [
                {"json": page([kpi("kpi_1", "2026-03-01T09:00:00Z")], "c2")},
                {"json": page([], "c3")},  # a short page can still have a next cursor
                {"json": page([kpi("kpi_2", "2026-03-01T10:30:00+01:00", baseline=0.5)])},
            ],
        )
        extract_kpis(database)
        first_run = mock.request_history
        assert [r.qs.get("cursor") for r in first_run] == [None, ["c2"], ["c3"]]
        assert all(r.qs["limit"] == ["1000"] for r in first_run)
        assert "updated_since" not in first_run[0].qs
        assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in first_run)
        assert all(TOKEN not in r.url for r in first_run)

    rows = raw_kpis(database)
    assert [(r[0], r[1]) for r in rows] == [("kpi_1", 52000.0), ("kpi_2", 0.5)]

    with requests_mock.Mocker() as mock:
        mock.get(
            list_url("kpis"),
            json=page(
                [
                    kpi("kpi_2", "2026-03-01T09:30:00Z", baseline=0.5),  # overlap, unchanged
                    kpi("kpi_1", "2026-03-02T08:00:00-05:00", target=9.5e18),
                    {
                        "id": "kpi_3",
                        "updated_at": "2026-03-02T14:00:00Z",
                        "deleted_at": "2026-03-02T14:00:00Z",
                    },
                ]
            ),
        )
        extract_kpis(database)
        since = mock.request_history[0].qs["updated_since"][0]
    # the lookback window: 5 minutes before the newest instant seen (09:30Z, as 10:30+01:00)
    assert since.upper().startswith("2026-03-01T09:25:00")
    rows = raw_kpis(database)
    assert [r[0] for r in rows] == ["kpi_1", "kpi_2", "kpi_3"]
    assert rows[0][2] == 9.5e18
    assert rows[2][4] is True  # tombstone kept for dbt


def test_a_rerun_drops_the_records_at_the_cursor_it_loaded_already(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    first = [kpi("kpi_1", "2026-03-01T09:00:00Z"), kpi("kpi_2", "2026-03-01T09:30:00Z")]
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=page(first))
        extract_kpis(database)
    loaded = load_ids(database)
    with requests_mock.Mocker() as mock:
        # `updated_since` is inclusive: the record at the cursor comes back, unchanged
        mock.get(list_url("kpis"), json=page(first[1:]))
        assert extract_kpis(database) == {"kpis": 1}
    assert load_ids(database) == loaded  # nothing loaded again: no new load id on any row
    with requests_mock.Mocker() as mock:
        changed = kpi("kpi_3", "2026-03-01T09:30:00Z")  # new, at the same instant as kpi_2
        mock.get(list_url("kpis"), json=page([first[1], changed]))
        extract_kpis(database)
    after = load_ids(database)
    assert after["kpi_2"] == loaded["kpi_2"] and after["kpi_3"] != loaded["kpi_2"]


def test_a_configured_lag_reads_that_window_before_the_cursor_again(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=page([kpi("kpi_1", "2026-03-01T09:30:00Z")]))
        extract_kpis(database, lookback_seconds=300)
        mock.get(list_url("kpis"), json=page([kpi("kpi_1", "2026-03-01T09:30:00Z")]))
        extract_kpis(database, lookback_seconds=300)
        since = mock.request_history[-1].qs["updated_since"][0]
    assert since.upper().startswith("2026-03-01T09:25:00")


def test_unknown_fields_and_wrong_types_do_not_break_the_load(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    odd = kpi("kpi_1", "2026-03-01T09:00:00Z", baseline="12.5", target=2**70, x_new={"a": [1]})
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=page([odd, kpi("kpi_2", "2026-03-01T09:00:00Z")]))
        extract_kpis(database)
    rows = raw_kpis(database)
    assert rows[0][1] == 12.5 and rows[0][2] == float(2**70)
    assert len(rows) == 2


def test_retries_429_with_retry_after_and_503_then_succeeds(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    with requests_mock.Mocker() as mock:
        mock.get(
            list_url("kpis"),
            [
                {
                    "status_code": 429,
                    "headers": {"Retry-After": "0"},
                    "json": {"error": {"code": "rate_limited", "message": "slow down"}},
                },
                {"status_code": 503, "text": "<html>busy</html>"},
                {"status_code": 503, "text": ""},
                {"json": page([kpi("kpi_1", "2026-03-01T09:00:00Z")])},
            ],
        )
        extract_kpis(database)
        assert mock.call_count == 4
    assert len(raw_kpis(database)) == 1


def test_401_fails_at_once_with_a_clear_message_and_loads_nothing(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    with requests_mock.Mocker() as mock:
        mock.get(
            list_url("kpis"),
            status_code=401,
            json={"error": {"code": "unauthorized", "message": "invalid token"}},
        )
        with pytest.raises(ExtractionError, match="rejected the access token") as failure:
            extract_kpis(database)
        assert mock.call_count == 1
    assert TOKEN not in str(failure.value)
    assert "\n" not in str(failure.value)


def test_failure_on_a_later_page_keeps_previous_data_and_cursor(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=page([kpi("kpi_1", "2026-03-01T09:00:00Z")]))
        extract_kpis(database)
    with requests_mock.Mocker() as mock:
        mock.get(
            list_url("kpis"),
            [
                {"json": page([kpi("kpi_1", "2026-03-05T09:00:00Z", baseline=1.0)], "c2")},
                {"text": '{"data": [ {"id": '},
            ],
        )
        with pytest.raises(ExtractionError, match=r"GET /kpis page 2: .*not valid JSON"):
            extract_kpis(database)
    assert raw_kpis(database)[0][1] == 52000.0
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=page([]))
        extract_kpis(database)
        assert (
            mock.request_history[0].qs["updated_since"][0].upper().startswith("2026-03-01T08:55:00")
        )


def test_the_garbage_collector_is_paused_only_while_pages_are_read(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    collector_on_during_pages = []

    def answer(request, context):
        collector_on_during_pages.append(gc.isenabled())
        if len(collector_on_during_pages) == 1:
            return page([kpi("kpi_1", "2026-03-01T09:00:00Z")])
        context.status_code = 401
        return {"error": {"code": "unauthorized", "message": "invalid token"}}

    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=answer)
        extract_kpis(database)
        assert gc.isenabled()
        with pytest.raises(ExtractionError):
            extract_kpis(database)
    assert collector_on_during_pages == [False, False]
    assert gc.isenabled()


def test_proxy_and_ca_settings_are_read_from_the_environment_once_per_client(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/company-ca.pem")
    behind_proxy = EcosystemsClient(BASE_URL, TOKEN).session
    assert behind_proxy.proxies["https"] == "http://proxy.example.test:3128"
    assert behind_proxy.verify == "/etc/ssl/certs/company-ca.pem"
    assert behind_proxy.trust_env is False  # requests no longer reads them per request
    assert "https" not in EcosystemsClient("http://127.0.0.1:8000/v1", TOKEN).session.proxies


def listing_since(records: list[dict]):
    """A one-page listing that honours `updated_since` (inclusive), as the API does."""

    def respond(request, context) -> dict:
        since = request.qs.get("updated_since", [None])[0]
        if since is None:
            return page(records)
        start = datetime.fromisoformat(since.upper().replace("Z", "+00:00"))
        return page([r for r in records if datetime.fromisoformat(r["updated_at"]) >= start])

    return respond


def raw_state(database: Path) -> list[tuple]:
    """Every raw row with the load that wrote it: a re-read that loads nothing keeps these."""
    with duckdb.connect(str(database)) as connection:
        return connection.execute(
            "select id, target, updated_at, _dlt_load_id from ecosystems_raw.kpis order by id"
        ).fetchall()


def extract_then_commit_late(database: Path, late: dict) -> dict[str, int]:
    """A run reads kpi_1 (09:30); `late` appears after it; what the next run reads."""
    newest = kpi("kpi_1", "2026-03-01T09:30:00Z")
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=listing_since([newest]))
        extract_kpis(database)
        mock.get(list_url("kpis"), json=listing_since([late, newest]))
        return extract_kpis(database)


def test_a_record_committed_late_inside_the_lookback_window_is_loaded_by_the_next_run(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    # committed by a replica after that run: 3 minutes older than the cursor
    late = kpi("kpi_late", "2026-03-01T09:27:00Z", target=1.0)
    assert extract_then_commit_late(database, late) == {"kpis": 2}
    rows = {row[0]: row for row in raw_state(database)}
    assert rows["kpi_late"][1] == 1.0
    assert rows["kpi_late"][3] != rows["kpi_1"][3]  # kpi_1, read again unchanged, kept its load


def test_a_record_committed_later_than_the_window_is_out_of_reach(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    too_late = kpi("kpi_old", "2026-03-01T09:24:59Z")  # 5 min 1 s before the cursor
    extract_then_commit_late(database, too_late)
    assert [row[0] for row in raw_state(database)] == ["kpi_1"]


def test_without_a_lookback_window_a_late_record_is_missed(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    newest = kpi("kpi_1", "2026-03-01T09:30:00Z")
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=listing_since([newest]))
        extract_kpis(database, lookback_seconds=0)
        late = kpi("kpi_late", "2026-03-01T09:29:00Z")
        mock.get(list_url("kpis"), json=listing_since([late, newest]))
        extract_kpis(database, lookback_seconds=0)
    assert [row[0] for row in raw_state(database)] == ["kpi_1"]


def test_records_read_again_unchanged_write_nothing_and_changed_ones_load(tmp_path):
    database = tmp_path / "goalsync.duckdb"
    window = [kpi(f"kpi_{n}", f"2026-03-01T09:2{n}:00Z") for n in range(1, 6)]
    older = kpi("kpi_0", "2026-02-01T09:00:00Z")
    with requests_mock.Mocker() as mock:
        mock.get(list_url("kpis"), json=listing_since([older, *window]))
        extract_kpis(database)
        first = raw_state(database)
        for _ in range(2):  # the window is read again, and again
            assert extract_kpis(database) == {"kpis": len(window)}
            assert raw_state(database) == first
        # the same version stamp, other content: a change all the same
        edited = {**window[2], "target": 7.0}
        mock.get(list_url("kpis"), json=listing_since([older, *window[:2], edited, *window[3:]]))
        extract_kpis(database)
    after = {row[0]: row for row in raw_state(database)}
    assert after["kpi_3"][1] == 7.0 and after["kpi_3"][3] != first[3][3]
    assert {key: row for key, row in after.items() if key != "kpi_3"} == {
        row[0]: row for row in first if row[0] != "kpi_3"
    }
