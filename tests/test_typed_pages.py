"""The typed fast path shapes exactly what the dict path shapes, and only clean pages."""

import json

import orjson
import pyarrow as pa
import pytest

from extract.ecosystems.helpers import records_to_table
from extract.ecosystems.settings import DOCUMENTS, ENDPOINTS, KPIS, VALUE_DRIVERS
from extract.ecosystems.typed_pages import decode_page, typed_records_table
from extract.sandbox.data import SandboxData, SandboxScale

SANDBOX = SandboxData(SandboxScale.for_kpis(400))


def sandbox_page(endpoint_name: str) -> list[dict]:
    count = min(SANDBOX.count(endpoint_name), 200)
    return [SANDBOX.record(endpoint_name, n) for n in range(1, count + 1)]


def both_paths(records: list, endpoint, body: bytes | None = None) -> tuple:
    """(typed table or None, dict table) of one page served as `body` (compact by default)."""
    body = body if body is not None else orjson.dumps({"data": records, "next_cursor": None})
    decoded = decode_page(body, endpoint)
    typed = typed_records_table(decoded[0], endpoint) if decoded is not None else None
    return typed, records_to_table(json.loads(body)["data"], endpoint)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_a_sandbox_page_takes_the_typed_path_and_gives_the_same_table(endpoint):
    records = sandbox_page(endpoint.name)
    typed, from_dicts = both_paths(records, endpoint)
    assert typed is not None
    assert typed.num_rows == len(records) >= 20
    assert typed.equals(from_dicts)
    assert typed.schema == endpoint.arrow_schema


def test_lists_as_another_server_writes_them_become_the_same_compact_text():
    records = sandbox_page("value_drivers")[:20]
    records[0]["realization_calendar"] = [{"period": "Q1 2026", "expected_benefit": 1e16}]
    records[1]["realization_calendar"] = [{"note": 'caf\u00e9 \\ "quoted"'}]
    records[2]["realization_calendar"] = []
    records[3]["realization_calendar"] = None
    del records[4]["realization_calendar"]
    body = json.dumps({"data": records, "next_cursor": "abc"}).encode()  # spaces, \u escapes
    typed, from_dicts = both_paths(records, VALUE_DRIVERS, body)
    assert typed is not None
    assert typed.equals(from_dicts)
    calendars = typed["realization_calendar"].to_pylist()
    assert calendars[0] == '[{"period":"Q1 2026","expected_benefit":1e+16}]'
    assert calendars[1] == '[{"note":"café \\\\ \\"quoted\\""}]'
    assert calendars[2:5] == ["[]", None, None]


def test_nested_objects_missing_fields_ints_as_doubles_offsets_and_tombstones_stay_typed():
    records = sandbox_page("documents")[:5]
    records[0]["account"] = None
    records[1]["created_by"] = {"name": "Ann", "unknown": [1, 2]}
    records[2]["updated_at"] = "2026-03-01T10:30:00+01:00"
    records[3] = {"id": records[3]["id"], "updated_at": "2026-03-02T00:00:00Z",
                  "deleted_at": "2026-03-02T00:00:00Z"}  # fmt: skip
    records[4]["extra_field"] = {"anything": True}
    typed, from_dicts = both_paths(records, DOCUMENTS)
    assert typed is not None and typed.equals(from_dicts)
    kpis = sandbox_page("kpis")[:3]
    kpis[0]["baseline"], kpis[1]["target"] = 7, 9.5e18
    typed, from_dicts = both_paths(kpis, KPIS)
    assert typed is not None and typed.equals(from_dicts)
    assert typed["baseline"][0].as_py() == 7.0


@pytest.mark.parametrize(
    "change",
    [
        {"baseline": "12.5"},  # a number as text: the dict path coerces it
        {"baseline": True},
        {"actuals": {"measured_on": "2026-01-31"}},  # not a list
        {"id": ""},
        {"id": 42},
        {"updated_at": "yesterday"},
        {"updated_at": None},
        {"value_driver_id": None},  # required on a live record
        {"name": ["not", "text"]},
    ],
    ids=str,
)
def test_a_page_with_one_record_off_contract_goes_the_dict_way(change):
    records = sandbox_page("kpis")[:10]
    records[5].update(change)
    typed, _ = both_paths(records, KPIS)
    assert typed is None


def test_a_repeated_id_or_a_record_that_is_no_object_goes_the_dict_way():
    records = sandbox_page("kpis")[:10]
    repeated = [*records, dict(records[0], name="again")]
    assert both_paths(repeated, KPIS)[0] is None
    assert decode_page(orjson.dumps({"data": [*records, "text"]}), KPIS) is None
    assert decode_page(b'{"data": [{"id": "k1", "baseline": NaN}]}', KPIS) is None
    assert decode_page(orjson.dumps({"data": records, "next_cursor": 5}), KPIS) is None


def test_a_deleted_kpi_needs_no_value_driver():
    records = sandbox_page("kpis")[:3]
    records[1]["value_driver_id"] = None
    records[1]["deleted_at"] = records[1]["updated_at"]
    typed, from_dicts = both_paths(records, KPIS)
    assert typed is not None and typed.equals(from_dicts)
    assert isinstance(typed, pa.Table)


def test_an_integer_beyond_64_bits_in_a_list_is_kept_digit_for_digit_both_ways():
    records = sandbox_page("kpis")[:3]
    records[0]["actuals"] = [{"measured_on": "2026-01-31", "value": 2**70}]
    expected = '[{"measured_on":"2026-01-31","value":1180591620717411303424}]'
    body = json.dumps({"data": records}, separators=(",", ":")).encode()
    typed, from_dicts = both_paths(records, KPIS, body)
    assert typed is not None and typed.equals(from_dicts)
    assert typed["actuals"][0].as_py() == expected
    records[1]["baseline"] = "not a number"  # the page takes the dict path
    body = json.dumps({"data": records}).encode()
    typed, from_dicts = both_paths(records, KPIS, body)
    assert typed is None
    assert from_dicts["actuals"][0].as_py() == expected
