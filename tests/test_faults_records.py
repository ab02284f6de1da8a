"""Bad records served for real by the sandbox (spliced into its first pages): each is loaded or
becomes an error record naming its raw object and the reason; none aborts the run, and every
good record still lands exactly as in a clean run."""

import copy
import json

import pytest
from faults_support import (
    clean_run,
    copy_database,
    goals,
    mutated_sandbox,
    query,
    run_environment,
    runs,
)

from extract.sandbox.store import Page
from goalsync import cli

LATER = "2026-12-01T00:00:00Z"  # after every record the copied database already holds
UNICODE = 'Ünïcødé 日本語 🚀 "quoted", comma,\nnew line\ttab'
LONG_TEXT = "Ω" * 100_000
NO_ID = {"name": "a KPI without id", "updated_at": LATER}


def served_records(sandbox, endpoint: str) -> list[dict]:
    return list(sandbox.store.iter_records(endpoint))


def bad_records(sandbox, kpi_id: str) -> dict[str, list]:
    """Odd records per endpoint, built from one live, matched goal's records."""
    kpi = copy.deepcopy(sandbox.store.current("kpis", kpi_id))
    driver = copy.deepcopy(sandbox.store.current("value_drivers", kpi["value_driver_id"]))
    document = copy.deepcopy(sandbox.store.current("documents", driver["document_id"]))

    def variant(record: dict, record_id: str, **fields) -> dict:
        return {**record, "id": record_id, "updated_at": LATER, **fields}

    return {
        "kpis": [
            variant(kpi, "kpi_x_unknown_fields", x_new={"nested": [1]}, x_flag=True),
            variant(kpi, "kpi_x_number_as_text", baseline="12.5", target=" 7 "),
            variant(kpi, "kpi_x_not_a_number", baseline="n/a"),
            variant(kpi, "kpi_x_nulls", name=None, baseline=None, target=None, actuals=None),
            variant(kpi, "kpi_x_huge", baseline=2**70, target=1.5e308),
            variant(kpi, "kpi_x_overflow", target=10**400),
            variant(kpi, "kpi_x_unicode", name=UNICODE),
            variant(kpi, "kpi_x_long_text", name=LONG_TEXT),
            variant(kpi, "kpi_x_orphan", value_driver_id="vd_never_arrives"),
            variant(kpi, "kpi_x_no_parent", value_driver_id=None),
            variant(kpi, "kpi_x_bad_timestamp", created_at="yesterday"),
            variant(kpi, "kpi_x_actuals_not_a_list", actuals={"value": 5}),
            variant(kpi, "kpi_x_duplicate", target=1.0),
            variant(kpi, "kpi_x_duplicate", target=2.0),  # same page, later: this copy wins
            NO_ID,
            7,
        ],
        "value_drivers": [
            variant(driver, "vd_x_odd", realization_calendar="n/a", total_benefit="1,000"),
        ],
        "documents": [
            variant(document, "doc_x_account_text", account="Acme Corp"),
        ],
    }


# (object_name, record_key) -> reason codes; every other odd record loads without a problem
EXPECTED_PROBLEMS = {
    ("kpis", "kpi_x_not_a_number"): ["invalid_number"],
    ("kpis", "kpi_x_overflow"): ["number_out_of_range"],
    ("kpis", "kpi_x_no_parent"): ["missing_value"],
    ("kpis", "kpi_x_bad_timestamp"): ["invalid_timestamp"],
    ("kpis", "kpi_x_actuals_not_a_list"): ["not_a_list"],
    ("kpis", "kpi_x_duplicate"): ["duplicate_id"],
    ("kpis", None): ["missing_id", "not_an_object"],
    ("value_drivers", "vd_x_odd"): ["not_a_list", "invalid_number"],
    ("documents", "doc_x_account_text"): ["not_an_object"],
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return clean_run(0, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, clean):
    """One run, on a copy of a clean database, with the odd records served on page 1."""
    database = copy_database(clean[0], tmp_path_factory.mktemp("records") / "goalsync.duckdb")
    kpi_id = next(row[1] for row in goals(clean[0]) if row[1].startswith("kpi_"))
    monkeypatch = pytest.MonkeyPatch()
    with mutated_sandbox(0) as sandbox:
        extra = bad_records(sandbox, kpi_id)
        serve = sandbox.store.page

        def page_with_odd_records(endpoint, since_us, limit, cursor=None):
            served = serve(endpoint, since_us, limit, cursor)
            if cursor is not None:
                return served
            texts = [json.dumps(record, ensure_ascii=False) for record in extra[endpoint]]
            return Page(served.texts + texts, served.next_cursor)

        monkeypatch.setattr(sandbox.store, "page", page_with_odd_records)
        for name, value in run_environment(database, sandbox.base_url).items():
            monkeypatch.setenv(name, value)
        try:
            exit_status = cli.main(["run"])
        finally:
            monkeypatch.undo()
    return database, exit_status, kpi_id


def by_key(rows: list[tuple]) -> dict[str, tuple]:
    return {row[1]: row for row in rows}  # customer_goals: (gsid, goal_key, ...)


def goal(database, goal_key: str) -> dict | None:
    rows = query(database, "select * from gainsight.customer_goals where goal_key = ?", [goal_key])
    if not rows:
        return None
    columns = [c[0] for c in query(database, "describe gainsight.customer_goals")]
    return dict(zip(columns, rows[0], strict=True))


def test_odd_records_do_not_abort_the_run(loaded):
    database, exit_status, _ = loaded
    assert exit_status == cli.EXIT_OK
    assert runs(database)[-1][1] == "Partial Success"


def test_every_good_record_still_lands_as_in_a_clean_run(loaded, clean):
    database = loaded[0]
    current = by_key(goals(database))
    for key, row in by_key(goals(clean[0])).items():
        assert current[key] == row


def test_odd_but_valid_values_are_loaded_as_received(loaded):
    database, _, kpi_id = loaded
    original = goal(database, kpi_id)
    assert goal(database, "kpi_x_unknown_fields")["kpi_baseline"] == original["kpi_baseline"]
    assert "x_new" not in [c[0] for c in query(database, "describe ecosystems_raw.kpis")]
    text_numbers = goal(database, "kpi_x_number_as_text")
    assert (text_numbers["kpi_baseline"], text_numbers["kpi_target"]) == (12.5, 7.0)
    nulls = goal(database, "kpi_x_nulls")
    assert (nulls["kpi_name"], nulls["kpi_baseline"], nulls["kpi_actuals"]) == (None, None, None)
    huge = goal(database, "kpi_x_huge")
    assert (huge["kpi_baseline"], huge["kpi_target"]) == (float(2**70), 1.5e308)
    assert goal(database, "kpi_x_unicode")["kpi_name"] == UNICODE
    assert goal(database, "kpi_x_long_text")["kpi_name"] == LONG_TEXT
    assert goal(database, "kpi_x_duplicate")["kpi_target"] == 2.0
    duplicates = "select count(*) from ecosystems_raw.kpis where id = 'kpi_x_duplicate'"
    assert query(database, duplicates) == [(1,)]


def test_orphans_and_records_without_a_parent_stay_raw_and_make_no_goal(loaded):
    database = loaded[0]
    raw = query(
        database,
        "select id from ecosystems_raw.kpis where id in ('kpi_x_orphan', 'kpi_x_no_parent') "
        "order by id",
    )
    assert raw == [("kpi_x_no_parent",), ("kpi_x_orphan",)]
    assert goal(database, "kpi_x_orphan") is None and goal(database, "kpi_x_no_parent") is None


def test_values_that_cannot_be_kept_load_as_null_with_an_error_record(loaded):
    database = loaded[0]
    assert goal(database, "kpi_x_not_a_number")["kpi_baseline"] is None
    assert goal(database, "kpi_x_overflow")["kpi_target"] is None
    assert goal(database, "kpi_x_bad_timestamp") is not None
    assert goal(database, "kpi_x_actuals_not_a_list")["kpi_actuals"] is None
    odd_driver = goal(database, "vd_x_odd")  # a value driver without KPIs is a goal too
    assert odd_driver["total_benefit"] is None and odd_driver["value_realization_calendar"] is None
    account = query(
        database,
        "select account__name, account__crm_account_id from ecosystems_raw.documents "
        "where id = 'doc_x_account_text'",
    )
    assert account == [(None, None)]


def test_each_problem_is_one_error_record_of_its_raw_object_with_the_reason(loaded, monkeypatch):
    database = loaded[0]
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(database))
    run_id, status, message = runs(database)[-1]
    problems = query(
        database,
        """select object_name, record_key, reason, record from activity.error_records
           where run_id = ? and object_name <> 'customer_goals' order by all""",
        [run_id],
    )
    found: dict[tuple, list[str]] = {}
    for object_name, record_key, reason, record in problems:
        codes = [part.split(":")[0].strip() for part in reason.split("; ")]
        found.setdefault((object_name, record_key), []).extend(codes)
        assert record is not None
    assert {key: sorted(codes) for key, codes in found.items()} == {
        key: sorted(codes) for key, codes in EXPECTED_PROBLEMS.items()
    }
    duplicate = next(json.loads(p[3]) for p in problems if p[1] == "kpi_x_duplicate")
    assert duplicate["target"] == 1.0  # the copy that was not loaded
    total = query(database, "select rows_failed from activity.job_runs where run_id = ?", [run_id])[
        0
    ][0]
    assert (
        total
        == query(
            database, "select count(*) from activity.error_records where run_id = ?", [run_id]
        )[0][0]
    )
    assert f"errors --run {run_id}" in message
    assert cli.main(["errors", "--run", str(run_id), "--limit", "100"]) == cli.EXIT_OK
