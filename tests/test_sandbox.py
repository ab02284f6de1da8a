"""The built-in sandbox Ecosystems server, over real loopback HTTP, and the Gainsight seeds."""

import csv
import http.client
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from extract.sandbox import (
    DEFAULT_NO_SCOPE_TOKEN,
    DEFAULT_TOKEN,
    Fault,
    SandboxData,
    SandboxProcess,
    SandboxScale,
    SandboxServer,
    catalog,
    gainsight_seed_rows,
    served_counts,
)
from extract.sandbox.__main__ import main as sandbox_main
from extract.sandbox.api import SandboxApi, is_loopback
from extract.sandbox.data import COMPANY_COLUMNS, GS_USER_COLUMNS, seed_csv
from extract.sandbox.store import SandboxStore

ENDPOINTS = ("documents", "value_drivers", "kpis")
SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    return session


HTTP = _session()


def get(
    server: Any, path: str, token: str | None = DEFAULT_TOKEN, timeout: float = 10, **params: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return HTTP.get(f"{server.base_url}/{path}", params=params, headers=headers, timeout=timeout)


def fetch_all(server: Any, endpoint: str, limit: int = 97, **params: Any) -> list[list[dict]]:
    """Every page of a listing, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        response = get(server, endpoint, limit=limit, **params, **extra)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10_000, "pagination does not end"


def records(server: Any, endpoint: str, **params: Any) -> list[dict]:
    return [record for page in fetch_all(server, endpoint, **params) for record in page]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def sandbox():
    with SandboxServer() as server:
        yield server


@pytest.fixture
def fresh(sandbox):
    """The shared sandbox with no mutations and no faults, before and after the test."""
    sandbox.reset()
    yield sandbox
    sandbox.reset()


# --- listing ------------------------------------------------------------------------------


def test_me_names_the_sandbox_org(sandbox):
    response = get(sandbox, "me")
    assert response.status_code == 200
    assert response.json() == {
        "organization": {"id": "org_sandbox", "name": "Sandbox Org (generated data)"},
        "token": {"name": "sandbox", "scopes": ["read"]},
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_listing_serves_every_record_once_in_order(fresh, endpoint):
    pages = fetch_all(fresh, endpoint, limit=27)
    rows = [record for page in pages for record in page]
    ids = [record["id"] for record in rows]
    assert len(ids) == served_counts(fresh.scale)[endpoint] == fresh.scale.count(endpoint)
    assert len(set(ids)) == len(ids)
    assert all(len(page) == 27 for page in pages[:-1]) and 0 < len(pages[-1]) <= 27
    keys = [(instant(record["updated_at"]), record["id"]) for record in rows]
    assert keys == sorted(keys)
    # the same instant written in different offsets is ordered by instant, not by text
    assert {record["updated_at"][19:] for record in rows} >= {"Z", "+01:00", "-05:00"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_served_times_agree_with_the_generator_used_for_binary_search(sandbox, endpoint):
    # the text builders inline the updated_at formula; paging searches with the method
    data = sandbox.store.data
    for record in records(sandbox, endpoint, limit=1000):
        n = data.index_of(endpoint, record["id"])
        assert instant(record["updated_at"]).timestamp() == data.updated_at(endpoint, n)


def test_default_page_size_is_100(sandbox):
    body = get(sandbox, "kpis").json()
    assert len(body["data"]) == 100 and body["next_cursor"]


def test_updated_since_is_inclusive_and_compares_instants(sandbox):
    rows = records(sandbox, "kpis", limit=1000)
    pivot = rows[600]
    pivot_instant = instant(pivot["updated_at"])
    expected = [r["id"] for r in rows if instant(r["updated_at"]) >= pivot_instant]
    assert pivot["id"] in expected and len(expected) < len(rows) - 500
    for zone in (UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-7, minutes=-30))):
        since = pivot_instant.astimezone(zone).isoformat()
        got = [r["id"] for r in records(sandbox, "kpis", limit=250, updated_since=since)]
        assert got == expected, since
    later = (pivot_instant + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    got = [r["id"] for r in records(sandbox, "kpis", limit=1000, updated_since=later)]
    assert pivot["id"] not in got
    assert got == [r["id"] for r in rows if instant(r["updated_at"]) > pivot_instant]


def test_updated_since_keeps_records_that_tie_on_the_instant(sandbox):
    rows = get(sandbox, "kpis", limit=2).json()["data"]
    # record 2 ties with record 1 (every fifth record does): a page boundary between them
    # must lose neither
    assert instant(rows[0]["updated_at"]) == instant(rows[1]["updated_at"])
    first = get(sandbox, "kpis", limit=1, updated_since=rows[1]["updated_at"]).json()
    second = get(
        sandbox, "kpis", limit=1, updated_since=rows[1]["updated_at"], cursor=first["next_cursor"]
    ).json()
    assert [first["data"][0]["id"], second["data"][0]["id"]] == [rows[0]["id"], rows[1]["id"]]


def test_updated_since_after_everything_is_an_empty_last_page(sandbox):
    body = get(sandbox, "kpis", updated_since="2030-01-01T00:00:00Z").json()
    assert body == {"data": [], "next_cursor": None}


@pytest.mark.parametrize("limit", ["0", "1001", "abc", "-1", "", "2.5", "100000000"])
def test_bad_limit_is_400(sandbox, limit):
    response = get(sandbox, "kpis", limit=limit)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize("limit", [1, 1000])
def test_limit_bounds_are_accepted(sandbox, limit):
    response = get(sandbox, "kpis", limit=limit)
    assert response.status_code == 200 and len(response.json()["data"]) == limit


def test_bad_cursor_and_bad_timestamp_are_400(sandbox):
    documents_cursor = get(sandbox, "documents", limit=5).json()["next_cursor"]
    for params in (
        {"cursor": "not-a-cursor"},
        {"cursor": documents_cursor},
        {"cursor": "eA"},
        {"updated_since": "yesterday"},
        {"updated_since": ""},
    ):
        response = get(sandbox, "kpis", **params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "invalid_parameter"


def test_unknown_path_is_404(sandbox):
    assert get(sandbox, "goals").status_code == 404
    assert HTTP.get(sandbox.base_url.removesuffix("/v1") + "/kpis").status_code == 404


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["me", "kpis"])
def test_missing_or_wrong_token_is_401_without_echo(sandbox, path):
    for token in (None, "wrong-token-123", ""):
        response = get(sandbox, path, token=token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "wrong-token-123" not in response.text
    basic = HTTP.get(f"{sandbox.base_url}/{path}", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


@pytest.mark.parametrize("path", ["me", "documents"])
def test_token_without_scope_is_403(sandbox, path):
    response = get(sandbox, path, token=DEFAULT_NO_SCOPE_TOKEN)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_custom_token_replaces_the_default():
    with SandboxServer(scale=SandboxScale(2, 3, 4), token="t-0p3n") as server:
        assert get(server, "me", token="t-0p3n").status_code == 200
        assert get(server, "me", token=DEFAULT_TOKEN).status_code == 401


# --- transport ----------------------------------------------------------------------------


def test_connection_is_kept_alive(sandbox):
    host, port = sandbox.base_url.split("//")[1].split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        for _ in range(3):
            connection.request(
                "GET", "/v1/me", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}
            )
            response = connection.getresponse()
            assert response.version == 11 and response.status == 200
            assert response.getheader("Content-Length") == str(len(response.read()))
            assert response.getheader("Connection") != "close"
        assert connection.sock is not None  # still the first socket
    finally:
        connection.close()


def test_stopped_server_answers_nothing():
    server = SandboxServer(scale=SandboxScale(2, 3, 4))
    url = server.start()
    session = _session()
    assert session.get(f"{url}/me", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}).ok
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{url}/me", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=2)


# --- determinism and data -----------------------------------------------------------------


def test_same_seed_serves_identical_pages_and_another_seed_does_not():
    scale = SandboxScale(20, 60, 200)
    with (
        SandboxServer(scale=scale, seed=3) as one,
        SandboxServer(scale=scale, seed=3) as two,
        SandboxServer(scale=scale, seed=4) as other,
    ):
        for endpoint in ENDPOINTS:
            cursor_params: dict[str, str] = {}
            for _ in range(3):
                a = get(one, endpoint, limit=50, **cursor_params)
                b = get(two, endpoint, limit=50, **cursor_params)
                assert a.content == b.content
                if not a.json()["next_cursor"]:
                    break
                cursor_params = {"cursor": a.json()["next_cursor"]}
            assert get(other, endpoint, limit=50).content != get(one, endpoint, limit=50).content


@pytest.mark.parametrize(
    "scale",
    [
        SandboxScale(),
        SandboxScale.for_kpis(1_000_000),
        SandboxScale(3, 7, 50),
        SandboxScale(50, 10, 30),
    ],
)
def test_fast_kpi_path_equals_the_reference_builder(scale):
    data = SandboxData(scale)
    indices = [
        *range(1, min(scale.kpis, 1500) + 1),
        *range(max(1, scale.kpis - 500), scale.kpis + 1),
    ]
    if scale.kpis >= 200_000:
        indices += [*range(100_000, 100_020), *range(123_400, 123_700)]
    assert data.texts("kpis", indices) == [data.kpi_reference_text(n) for n in indices]


def test_salesforce_ids_carry_the_real_checksum():
    assert catalog.sfdc_checksum("001A0000006Vm9r") == "IAC"  # Salesforce's own example
    for account in catalog.ACCOUNTS:
        crm = account.crm_account_id
        assert len(crm) == 18 and catalog.sfdc_checksum(crm[:15]) == crm[15:]
    assert len({a.crm_account_id for a in catalog.ACCOUNTS}) == len(catalog.ACCOUNTS)


def test_records_follow_the_contract_shapes(sandbox):
    documents = records(sandbox, "documents", limit=1000)
    drivers = records(sandbox, "value_drivers", limit=1000)
    kpis = records(sandbox, "kpis", limit=1000)
    document_keys = {
        "id",
        "name",
        "type",
        "status",
        "currency",
        "account",
        "opportunity",
        "created_at",
        "created_by",
        "updated_at",
        "last_updated_by",
        "deleted_at",
    }
    assert all(document_keys <= set(d) for d in documents)
    assert {d["type"] for d in documents} == {
        "business_case",
        "value_assessment",
        "value_realization",
    }
    assert {d["status"] for d in documents} == {"draft", "published", "archived"}
    assert all(
        re.fullmatch(r"0015g00000\w{5}[A-Z0-5]{3}", d["account"]["crm_account_id"])
        for d in documents
        if d["account"]["crm_account_id"]
    )
    assert {
        "Cost Reduction",
        "Revenue Growth",
        "Risk Mitigation",
        "Productivity",
        "Customer Experience",
    } == {v["category"] for v in drivers}
    assert all(
        re.fullmatch(r"(doc_\d{6}|vd_\d{7}|kpi_\d{7})", r["id"]) for r in documents + drivers + kpis
    )
    for record in documents + drivers + kpis:
        assert record["deleted_at"] is None
        assert instant(record["created_at"]) <= instant(record["updated_at"])
        assert (
            datetime(2025, 11, 1, tzinfo=UTC)
            <= instant(record["updated_at"])
            <= datetime(2026, 11, 1, tzinfo=UTC)
        )
    # children point at parents that exist (apart from the deliberate orphan)
    document_ids = {d["id"] for d in documents}
    assert all(v["document_id"] in document_ids for v in drivers)
    assert all(
        v["currency"] == next(d["currency"] for d in documents if d["id"] == v["document_id"])
        for v in drivers[:40]
    )


def test_edge_cases_are_present(sandbox):
    documents = records(sandbox, "documents", limit=1000)
    drivers = records(sandbox, "value_drivers", limit=1000)
    kpis = records(sandbox, "kpis", limit=1000)
    driver_ids = {v["id"] for v in drivers}
    kpi_parents = {k["value_driver_id"] for k in kpis}
    assert [k["id"] for k in kpis if k["value_driver_id"] not in driver_ids] == ["kpi_0000007"]
    assert len(driver_ids - kpi_parents) >= 1  # value drivers without KPIs
    assert any(d["account"]["crm_account_id"] is None for d in documents)
    assert any(d["opportunity"] is None for d in documents)
    assert any(d["created_by"] is None for d in documents)
    assert any(d["last_updated_by"] is None for d in documents)
    for rows in (documents, drivers, kpis):
        assert any(r.get("x_extra") == {"a": 1} for r in rows)
    names = [r["name"] for r in drivers + kpis]
    assert any("\n" in name for name in names) and any('"' in name for name in names)
    assert any("Müller & Söhne GmbH" in d["name"] for d in documents)
    assert any(v["realization_calendar"] == [] for v in drivers)
    assert any(e["realized_benefit"] is None for v in drivers for e in v["realization_calendar"])
    assert any(v["total_benefit"] is None for v in drivers)
    assert any(k["actuals"] == [] for k in kpis)
    assert any(a["value"] is None for k in kpis for a in k["actuals"])
    assert any(k["target"] is None for k in kpis)
    assert any(k["actuals"] != sorted(k["actuals"], key=lambda a: a["measured_on"]) for k in kpis)
    # whole numbers first, decimals later: type inference from the first page must not stick
    assert isinstance(drivers[0]["total_benefit"], int)
    assert any(isinstance(v["total_benefit"], float) for v in drivers)
    assert isinstance(kpis[0]["baseline"], int)
    assert any(isinstance(k["baseline"], float) for k in kpis)


def test_million_kpi_scale_pages_from_the_middle_quickly():
    scale = SandboxScale.for_kpis(1_000_000)
    assert scale == SandboxScale(documents=50_000, value_drivers=250_000, kpis=1_000_000)
    assert served_counts(scale) == {
        "documents": 50_000,
        "value_drivers": 250_000,
        "kpis": 1_000_000,
    }
    store = SandboxStore(SandboxData(scale))
    data = store.data
    since = datetime(2026, 6, 15, 12, 0, 1, tzinfo=UTC)
    started = time.perf_counter()
    page = store.page("kpis", int(since.timestamp()) * 1_000_000, 1000)
    last = store.page("kpis", None, 1000, _cursor_at(store, "kpis", 999_500))
    assert time.perf_counter() - started < 2
    rows = [orjson.loads(text) for text in page.texts]
    first = data.index_of("kpis", rows[0]["id"])
    assert instant(rows[0]["updated_at"]) >= since
    assert datetime.fromtimestamp(data.updated_at("kpis", first - 1), UTC) < since
    assert [data.index_of("kpis", r["id"]) for r in rows] == list(range(first, first + 1000))
    assert len(last.texts) == 500 and last.next_cursor is None


def _cursor_at(store: SandboxStore, endpoint: str, n: int) -> str:
    from extract.sandbox.store import Position

    data = store.data
    return Position(endpoint, 2, data.updated_at(endpoint, n), data.id_of(endpoint, n)).encode()


# --- mutations ----------------------------------------------------------------------------


def test_mutate_updates_deletes_and_adds_later_records(fresh):
    before = {
        endpoint: {r["id"]: r for r in records(fresh, endpoint, limit=1000)}
        for endpoint in ENDPOINTS
    }
    latest_base = max(instant(r["updated_at"]) for rows in before.values() for r in rows.values())
    summary = fresh.mutate()
    after = {endpoint: records(fresh, endpoint, limit=1000) for endpoint in ENDPOINTS}
    assert summary["round"] == 1
    for endpoint in ENDPOINTS:
        rows = {r["id"]: r for r in after[endpoint]}
        assert len(after[endpoint]) == len(rows) == served_counts(fresh.scale, 1)[endpoint]
        keys = [(instant(r["updated_at"]), r["id"]) for r in after[endpoint]]
        assert keys == sorted(keys)
        changed = (
            summary["updated"][endpoint] + summary["deleted"][endpoint] + summary["added"][endpoint]
        )
        assert summary["updated"][endpoint] and summary["deleted"][endpoint]
        assert summary["added"][endpoint]
        for record_id in changed:
            assert instant(rows[record_id]["updated_at"]) > latest_base
        for record_id in summary["updated"][endpoint]:
            assert rows[record_id] != before[endpoint][record_id]
            assert rows[record_id]["deleted_at"] is None
        for record_id in summary["deleted"][endpoint]:
            tombstone = rows[record_id]
            assert set(tombstone) == {"id", "updated_at", "deleted_at"}
            assert tombstone["deleted_at"] == tombstone["updated_at"]
        for record_id in summary["added"][endpoint]:
            assert record_id not in before[endpoint] and rows[record_id]["deleted_at"] is None
        untouched = set(rows) - set(changed)
        assert all(rows[i] == before[endpoint][i] for i in untouched)
    assert len(summary["updated"]["kpis"]) == len(before["kpis"]) // 100
    # children of a deleted document are not tombstoned
    deleted_document = summary["deleted"]["documents"][0]
    children = [v for v in after["value_drivers"] if v.get("document_id") == deleted_document]
    assert children and all(v["deleted_at"] is None for v in children)
    # an incremental read from the mutation day returns exactly the changes
    since = summary["day"] + "T00:00:00Z"
    for endpoint in ENDPOINTS:
        got = {r["id"] for r in records(fresh, endpoint, updated_since=since)}
        assert got == set(
            summary["updated"][endpoint] + summary["deleted"][endpoint] + summary["added"][endpoint]
        )


def test_mutation_rounds_are_deterministic_later_days_and_reset_forgets_them(fresh):
    scale = fresh.scale
    with SandboxServer(scale=scale) as twin:
        summaries = [fresh.mutate() for _ in range(2)]
        assert [twin.mutate() for _ in range(2)] == summaries
        since = {"limit": 1000, "updated_since": "2026-11-01T00:00:00Z"}
        assert get(fresh, "kpis", **since).content == get(twin, "kpis", **since).content
    assert [s["day"] for s in summaries] == ["2026-11-01", "2026-11-02"]
    second_day = {r["id"] for r in records(fresh, "kpis", updated_since="2026-11-02T00:00:00Z")}
    changed = summaries[1]
    assert second_day == set(
        changed["updated"]["kpis"] + changed["deleted"]["kpis"] + changed["added"]["kpis"]
    )
    fresh.reset()
    assert get(fresh, "kpis", updated_since="2026-11-01T00:00:00Z").json()["data"] == []
    assert len(records(fresh, "kpis", limit=1000)) == scale.kpis


def test_updated_kpi_gets_a_new_actual_or_target(fresh):
    summary = fresh.mutate()
    for record_id in summary["updated"]["kpis"]:
        n = fresh.store.data.index_of("kpis", record_id)
        base = fresh.store.data.record("kpis", n) if n <= fresh.scale.kpis else None
        now = fresh.store.current("kpis", record_id)
        if base is not None:
            assert (
                len(now["actuals"]) == len(base["actuals"]) + 1 or now["target"] != base["target"]
            )


# --- faults -------------------------------------------------------------------------------


def test_429_carries_retry_after_and_a_json_error(fresh):
    fresh.set_faults(Fault("status", status=429, retry_after=2))
    response = get(fresh, "kpis")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "rate_limited"
    assert get(fresh, "kpis").status_code == 200


def test_5xx_bodies_are_html_or_empty(fresh):
    fresh.set_faults(Fault("status", status=503), Fault("status", status=502, body="empty"))
    first = get(fresh, "kpis")
    assert first.status_code == 503 and first.headers["Content-Type"] == "text/html"
    assert "<html>" in first.text
    second = get(fresh, "kpis")
    assert second.status_code == 502 and second.content == b""
    assert get(fresh, "kpis").status_code == 200


def test_fault_count_endpoint_and_page_filters(fresh):
    fresh.set_faults(Fault("status", status=500, count=3, endpoint="kpis", from_page=2))
    first = get(fresh, "kpis", limit=10)
    assert first.status_code == 200  # page 1 carries no cursor
    assert (
        get(
            fresh,
            "documents",
            limit=10,
            cursor=get(fresh, "documents", limit=10).json()["next_cursor"],
        ).status_code
        == 200
    )  # another endpoint
    cursor = first.json()["next_cursor"]
    assert [get(fresh, "kpis", limit=10, cursor=cursor).status_code for _ in range(4)] == [
        500,
        500,
        500,
        200,
    ]
    assert fresh.pending_faults() == []


def test_broken_bodies(fresh):
    fresh.set_faults(Fault("malformed_json"), Fault("missing_data"), Fault("data_not_list"))
    truncated = get(fresh, "kpis")
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        orjson.loads(truncated.content)
    assert get(fresh, "kpis").json() == {"items": []}
    assert isinstance(get(fresh, "kpis").json()["data"], dict)
    assert isinstance(get(fresh, "kpis").json()["data"], list)


def test_hang_triggers_a_client_timeout(fresh):
    fresh.set_faults(Fault("hang", seconds=2.0, endpoint="me"))
    started = time.perf_counter()
    with pytest.raises(requests.Timeout):
        get(fresh, "me", timeout=0.3)
    assert time.perf_counter() - started < 1.5
    assert get(fresh, "me").status_code == 200


def test_close_drops_the_connection(fresh):
    fresh.set_faults(Fault("close", endpoint="documents"))
    with pytest.raises(requests.ConnectionError):
        get(fresh, "documents")
    assert get(fresh, "documents").status_code == 200


def test_faults_over_the_control_endpoint_need_no_token(fresh):
    control = fresh.base_url.removesuffix("/v1") + "/_sandbox"
    response = HTTP.post(
        f"{control}/faults",
        json={
            "faults": [{"kind": "status", "status": 504, "count": 2, "endpoint": "value_drivers"}]
        },
    )
    assert response.status_code == 200
    assert HTTP.get(f"{control}/faults").json()["faults"][0]["count"] == 2
    assert get(fresh, "value_drivers").status_code == 504
    assert HTTP.post(f"{control}/faults", json={"faults": []}).status_code == 200
    assert get(fresh, "value_drivers").status_code == 200
    bad = HTTP.post(f"{control}/faults", json={"faults": [{"kind": "explode"}]})
    assert bad.status_code == 400
    mutated = HTTP.post(f"{control}/mutate", json={"rounds": 2}).json()["rounds"]
    assert [r["round"] for r in mutated] == [1, 2]
    stats = HTTP.get(f"{control}/stats").json()
    assert stats["mutation_rounds"] == 2 and stats["statuses"]["504"] == 1
    assert HTTP.post(f"{control}/reset").json() == {"ok": True}
    assert HTTP.get(f"{control}/stats").json()["mutation_rounds"] == 0


def test_control_endpoints_answer_only_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("10.0.0.5") and not is_loopback("192.168.1.20")
    api = SandboxApi(SandboxStore(SandboxData(SandboxScale(2, 3, 4))), DEFAULT_TOKEN)
    remote = api.handle("POST", "/_sandbox/reset", {}, b"", "10.0.0.5")
    local = api.handle("POST", "/_sandbox/reset", {}, b"", "127.0.0.1")
    assert (remote.status, local.status) == (404, 200)


def test_stats_count_rows_served(fresh):
    records(fresh, "value_drivers", limit=1000)
    stats = fresh.stats()
    assert stats["rows_served"]["value_drivers"] == fresh.scale.value_drivers
    assert stats["requests"]["value_drivers"] == 1
    assert stats["server_cpu_seconds"] > 0


# --- latency and rate limit ---------------------------------------------------------------


def test_latency_answers_every_request_late_without_holding_a_cpu():
    with SandboxServer(scale=SandboxScale(2, 3, 40), latency_ms=300) as server:
        started = time.monotonic()
        assert get(server, "kpis", limit=10).status_code == 200
        assert time.monotonic() - started >= 0.3
        sessions = [_session() for _ in range(8)]
        cpu, started = time.process_time(), time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda session: session.get(
                        f"{server.base_url}/kpis",
                        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
                        timeout=10,
                    ),
                    sessions,
                )
            )
        elapsed = time.monotonic() - started
        assert [answer.status_code for answer in answers] == [200] * 8
        # eight requests at once wait side by side: a sleep, not a busy server
        assert 0.3 <= elapsed < 8 * 0.3
        assert time.process_time() - cpu < 8 * 0.3


def test_past_the_rate_the_api_answers_429_with_retry_after_then_recovers():
    with SandboxServer(scale=SandboxScale(2, 3, 4), rate=5) as server:
        statuses = [get(server, "kpis").status_code for _ in range(12)]
        assert statuses[:5] == [200] * 5  # a second's worth of burst
        assert 429 in statuses[5:]
        limited = get(server, "kpis")
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        time.sleep(int(limited.headers["Retry-After"]))
        assert get(server, "kpis").status_code == 200
        assert server.stats()["statuses"]["429"] >= 2


def test_sandbox_command_line_takes_latency_and_rate(capsys):
    process = SandboxProcess(scale=SandboxScale(2, 3, 4), latency_ms=50, rate=100)
    command = process.command()
    assert command[command.index("--latency-ms") + 1] == "50"
    assert command[command.index("--rate") + 1] == "100"
    for bad in (["--latency-ms", "-1"], ["--rate", "0"], ["--rate", "fast"]):
        with pytest.raises(SystemExit) as exit_:
            sandbox_main(bad)
        assert exit_.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()[-1:]) == 1


# --- subprocess ---------------------------------------------------------------------------


def test_subprocess_mode_prints_its_url_and_obeys_controls():
    scale = SandboxScale(5, 10, 30)
    with SandboxProcess(scale=scale, token="proc-token", seed=11) as process:
        assert "proc-token" not in " ".join(process.command())  # not visible in `ps`
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", process.base_url)
        assert get(process, "me", token="proc-token").status_code == 200
        assert get(process, "me").status_code == 401
        with SandboxServer(scale=scale, token="proc-token", seed=11) as twin:
            assert (
                get(process, "kpis", token="proc-token").content
                == get(twin, "kpis", token="proc-token").content
            )
        process.set_faults(Fault("status", status=503, endpoint="kpis"))
        assert process.pending_faults()[0]["status"] == 503
        assert get(process, "kpis", token="proc-token").status_code == 503
        summary = process.mutate()
        assert summary["round"] == 1 and summary["deleted"]["kpis"]
        assert len(records(process, "kpis", token="proc-token")) == served_counts(scale, 1)["kpis"]
        process.reset()
        assert process.stats()["mutation_rounds"] == 0
        url, pid = process.base_url, process.pid
    assert pid is not None
    with pytest.raises(requests.ConnectionError):
        HTTP.get(f"{url}/me", timeout=2)


# --- seeds --------------------------------------------------------------------------------


def _read_csv(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (SEEDS / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_seed_files_are_what_the_generator_writes():
    companies, users = gainsight_seed_rows()
    assert (SEEDS / "company.csv").read_text(encoding="utf-8") == seed_csv(
        companies, COMPANY_COLUMNS
    )
    assert (SEEDS / "gs_user.csv").read_text(encoding="utf-8") == seed_csv(users, GS_USER_COLUMNS)
    header, rows = _read_csv("company.csv")
    assert header == ["gsid", "name", "sfdc_account_id", "industry", "arr", "status"]
    assert any("," in r["name"] for r in rows) and any('"' in r["name"] for r in rows)
    header, _ = _read_csv("gs_user.csv")
    assert header == ["gsid", "name", "email", "is_active"]


def test_seeds_match_the_sandbox_except_the_deliberate_misfits(sandbox):
    _, companies = _read_csv("company.csv")
    _, users = _read_csv("gs_user.csv")
    for row in companies + users:
        assert re.fullmatch(r"1P0[12][0-9A-Z]{32}", row["gsid"])
    sfdc_ids = [c["sfdc_account_id"] for c in companies if c["sfdc_account_id"]]
    assert len(sfdc_ids) == len(set(sfdc_ids))  # no company ambiguity
    documents = records(sandbox, "documents", limit=1000)
    served_accounts = {
        d["account"]["crm_account_id"]: d["account"]["name"]
        for d in documents
        if d["account"]["crm_account_id"]
    }
    missing = {name for crm, name in served_accounts.items() if crm not in sfdc_ids}
    assert missing == {catalog.ACCOUNT_MISSING_IN_GAINSIGHT}
    company_names = {c["sfdc_account_id"]: c["name"] for c in companies}
    assert all(
        company_names[crm] == name for crm, name in served_accounts.items() if crm in company_names
    )

    served_emails = {
        u["email"] for d in documents for u in (d["created_by"], d["last_updated_by"]) if u
    }
    by_lower: dict[str, list[dict[str, str]]] = {}
    for user in users:
        by_lower.setdefault(user["email"].lower(), []).append(user)
    assert {e for e in served_emails if e.lower() not in by_lower} == {
        catalog.USER_MISSING_IN_GAINSIGHT
    }
    other_case = [
        u for u in users if u["email"].lower() in served_emails and u["email"] not in served_emails
    ]
    assert [u["email"] for u in other_case] == [catalog.USER_EMAIL_OTHER_CASE[1]]
    shared = [email for email, rows in by_lower.items() if len(rows) > 1]
    assert shared == [catalog.USER_EMAIL_SHARED] and shared[0] in served_emails
    assert len({u["gsid"] for u in by_lower[shared[0]]}) == 2
