"""The dbt project end to end: raw Ecosystems tables in, Gainsight customer goals out.

Builds a copy of `dbt_project/` (so `../seeds` resolves to this test's own Gainsight
exports) into a temporary DuckDB file twice, and asserts both states row by row.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
OOB_JOB_SELECTION = ["--select", "+tag:cs_goal_sync"]
FIRST_LOAD, SECOND_LOAD, THIRD_LOAD = (
    "1772000000.000001",
    "1772100000.000001",
    "1772200000.000001",
)

RAW_TABLES = {
    "documents": """
        id VARCHAR PRIMARY KEY, name VARCHAR, type VARCHAR, status VARCHAR, currency VARCHAR,
        account__name VARCHAR, account__crm_account_id VARCHAR,
        opportunity__name VARCHAR, opportunity__crm_opportunity_id VARCHAR,
        created_at TIMESTAMPTZ,
        created_by__id VARCHAR, created_by__name VARCHAR, created_by__email VARCHAR,
        updated_at TIMESTAMPTZ,
        last_updated_by__id VARCHAR, last_updated_by__name VARCHAR,
        last_updated_by__email VARCHAR,
        deleted_at TIMESTAMPTZ,
        _dlt_load_id VARCHAR
    """,
    "value_drivers": """
        id VARCHAR PRIMARY KEY, document_id VARCHAR, name VARCHAR, solution VARCHAR,
        category VARCHAR, total_benefit DOUBLE, currency VARCHAR, realization_calendar VARCHAR,
        created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ,
        _dlt_load_id VARCHAR
    """,
    "kpis": """
        id VARCHAR PRIMARY KEY, value_driver_id VARCHAR, name VARCHAR, unit VARCHAR,
        direction VARCHAR, baseline DOUBLE, target DOUBLE, actuals VARCHAR,
        created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ,
        _dlt_load_id VARCHAR
    """,
}

# Gainsight exports as users write them: quoted commas, blanks, repeated account ids and
# emails, one company twice under the same gsid.
COMPANY_CSV = """gsid,name,sfdc_account_id,industry,arr,status
1P02ACME,"Acme, Inc.",001ACME,Technology,1250000.5,Active
1P02GLOBEX,Globex,001GLOBEX,Energy,,Active
1P02GLOBEX,Globex (second row),001GLOBEX,,,
1P02INITECHWEST,Initech West,001INITECH,,,
1P02INITECHEAST,Initech East,001INITECH,,,
1P02NOACCOUNT,No account id,,,,
"""
GS_USER_CSV = """gsid,name,email,is_active
1P01DANA,Dana Reyes,Dana.Reyes@Vendor.Example,true
1P01LEE9,Lee Park,lee.park@vendor.example,true
1P01LEE2,"Park, Lee (old)",LEE.PARK@VENDOR.EXAMPLE,false
1P01NOMAIL,No Email,,true
"""

ACME_CALENDAR = [
    {
        "period": "2026-Q1",
        "start_date": "2026-01-01",
        "end_date": "2026-03-31",
        "expected_benefit": 100000.0,
        "realized_benefit": None,
        "note": 'quoted "text", comma',
    },
    {"period": "2026-Q2", "expected_benefit": 1.5e12, "realized_benefit": -250.25},
]


def document(doc_id: str, crm_account_id: str | None, **fields) -> dict:
    record = {
        "id": doc_id,
        "name": f'{doc_id} — Business Case, "2026"',
        "type": "business_case",
        "status": "published",
        "currency": "USD",
        "account__name": f"Account of {doc_id}",
        "account__crm_account_id": crm_account_id,
        "opportunity__name": f"Opportunity of {doc_id}",
        "opportunity__crm_opportunity_id": "0065g00000XyZ12AAB",
        "created_at": "2026-01-05T10:30:00+01:00",
        "created_by__id": "usr_1",
        "created_by__name": "Dana Reyes",
        "created_by__email": "dana.reyes@vendor.example",
        "updated_at": "2026-02-01T08:00:00Z",
        "last_updated_by__id": "usr_2",
        "last_updated_by__name": "Lee Park",
        "last_updated_by__email": "Lee.Park@Vendor.Example",
    }
    return record | fields


def value_driver(vd_id: str, document_id: str, **fields) -> dict:
    record = {
        "id": vd_id,
        "document_id": document_id,
        "name": f"Value driver {vd_id}",
        "solution": "Cloud Migration",
        "category": "Cost Reduction",
        "total_benefit": 1250000.0,
        "currency": "USD",
        "realization_calendar": [],
        "created_at": "2026-01-05T10:05:00Z",
        "updated_at": "2026-02-01T08:00:00Z",
    }
    return record | fields


def kpi(kpi_id: str, value_driver_id: str, actuals: list | None, **fields) -> dict:
    record = {
        "id": kpi_id,
        "value_driver_id": value_driver_id,
        "name": f"KPI {kpi_id}",
        "unit": "USD",
        "direction": "decrease",
        "baseline": 52000.0,
        "target": 40000.0,
        "actuals": actuals,
        "created_at": "2026-01-05T10:06:00Z",
        "updated_at": "2026-03-01T09:30:00Z",
    }
    return record | fields


def tombstone(record_id: str, deleted_at: str = "2026-03-02T12:00:00+02:00") -> dict:
    return {"id": record_id, "updated_at": deleted_at, "deleted_at": deleted_at}


FIRST_STATE = {
    "documents": [
        document("doc_acme", "001ACME"),
        document(
            "doc_globex",
            "001GLOBEX",
            opportunity__name=None,
            opportunity__crm_opportunity_id=None,
            created_by__id=None,
            created_by__name=None,
            created_by__email=None,
            last_updated_by__email="nobody@vendor.example",
        ),
        document("doc_initech", "001INITECH"),
        document("doc_wrong_case", "001acme"),
        document("doc_no_crm", None),
        tombstone("doc_deleted"),
    ],
    "value_drivers": [
        value_driver("vd_acme_kpis", "doc_acme", realization_calendar=ACME_CALENDAR),
        value_driver("vd_acme_no_kpi", "doc_acme", total_benefit=-12.5),
        value_driver("vd_acme_only_deleted_kpi", "doc_acme", total_benefit=None),
        tombstone("vd_acme_deleted"),
        value_driver("vd_globex", "doc_globex"),
        value_driver("vd_initech", "doc_initech"),
        value_driver("vd_wrong_case", "doc_wrong_case"),
        value_driver("vd_no_crm", "doc_no_crm"),
        value_driver("vd_of_deleted_doc", "doc_deleted"),
        value_driver("vd_waiting_for_doc", "doc_late"),
    ],
    "kpis": [
        kpi(
            "kpi_unsorted",
            "vd_acme_kpis",
            [
                {"measured_on": "2026-02-28", "value": 48000.0},
                {"measured_on": "2026-03-31", "value": 47000.5},
                {"measured_on": "2026-01-31", "value": 50500.0},
            ],
        ),
        kpi(
            "kpi_null_latest",
            "vd_acme_kpis",
            [
                {"measured_on": "2026-01-31", "value": 1.0},
                {"measured_on": "2026-02-28", "value": None},
            ],
            baseline=None,
            target=None,
        ),
        kpi(
            "kpi_tie",
            "vd_acme_kpis",
            [
                {"measured_on": "2026-02-28", "value": 1.0},
                {"measured_on": "2026-02-28", "value": 2.0},
                {"measured_on": "2026-01-31", "value": 3.0},
            ],
        ),
        tombstone("kpi_deleted"),
        {**kpi("kpi_deleted_2", "vd_acme_only_deleted_kpi", None), **tombstone("kpi_deleted_2")},
        kpi("kpi_of_deleted_vd", "vd_acme_deleted", []),
        kpi("kpi_empty_actuals", "vd_globex", []),
        kpi("kpi_null_actuals", "vd_globex", None),
        kpi("kpi_initech", "vd_initech", []),
        kpi("kpi_no_crm", "vd_no_crm", []),
        kpi("kpi_of_deleted_doc", "vd_of_deleted_doc", []),
        kpi("kpi_orphan", "vd_never_arrives", []),
    ],
}

SECOND_STATE = {
    "documents": [
        tombstone("doc_globex"),
        document("doc_initech", "001ACME", updated_at="2026-03-05T08:00:00Z"),
        document("doc_late", "001GLOBEX", updated_at="2026-03-05T08:00:00Z"),
    ],
    "value_drivers": [],
    "kpis": [
        kpi(
            "kpi_unsorted",
            "vd_acme_kpis",
            [
                {"measured_on": "2026-02-28", "value": 48000.0},
                {"measured_on": "2026-04-30", "value": 46000.0},
                {"measured_on": "2026-03-31", "value": 47000.5},
            ],
            name="Monthly cloud spend, renamed",
            updated_at="2026-05-01T00:00:00Z",
        ),
        tombstone("kpi_null_latest"),
        kpi(
            "kpi_new", "vd_acme_no_kpi", [{"measured_on": "2026-03-01T10:30:00+01:00", "value": 7}]
        ),
    ],
}

# Only parents change for most KPIs here: the incremental KPI table must follow them.
THIRD_STATE = {
    "documents": [tombstone("doc_initech", "2026-03-06T00:00:00Z")],
    "value_drivers": [
        tombstone("vd_acme_no_kpi", "2026-03-06T00:00:00Z"),
        value_driver("vd_never_arrives", "doc_acme", updated_at="2026-03-06T00:00:00Z"),
        value_driver("vd_of_deleted_doc", "doc_acme", updated_at="2026-03-06T00:00:00Z"),
    ],
    "kpis": [
        kpi(
            "kpi_tie",
            "vd_waiting_for_doc",
            [{"measured_on": "2026-02-28", "value": 2.0}],
            updated_at="2026-03-06T00:00:00Z",
        ),
    ],
}


def expected_gsid(goal_key: str) -> str:
    """The documented GSID formula; pinning it here catches any change of ids."""
    object_code = hashlib.md5(b"customer_goals").hexdigest()[:2]
    digest = hashlib.md5(f"customer_goals:{goal_key}".encode()).hexdigest()
    return f"1P{object_code}{digest}".upper()


class DbtWorkspace:
    """A copy of the dbt project with its own seeds, building into one DuckDB file."""

    def __init__(self, root: Path) -> None:
        self.project_dir = root / "dbt_project"
        self.database = root / "goalsync.duckdb"
        self.target_path = root / "target"
        shutil.copytree(
            DBT_PROJECT,
            self.project_dir,
            ignore=shutil.ignore_patterns(
                "target", "logs", "dbt_packages", ".user.yml", "destinations"
            ),
        )
        (root / "seeds").mkdir()
        (root / "seeds" / "company.csv").write_text(COMPANY_CSV)
        (root / "seeds" / "gs_user.csv").write_text(GS_USER_CSV)
        with duckdb.connect(str(self.database)) as connection:
            connection.execute("create schema ecosystems_raw")
            for table, columns in RAW_TABLES.items():
                connection.execute(f"create table ecosystems_raw.{table} ({columns})")

    def invoke(self, *args: str, callbacks: list | None = None) -> dbtRunnerResult:
        return dbtRunner(callbacks=callbacks).invoke(
            [
                *args,
                "--project-dir",
                str(self.project_dir),
                "--profiles-dir",
                str(self.project_dir),
                "--target-path",
                str(self.target_path),
                "--log-path",
                str(self.target_path / "logs"),
            ]
        )

    def dbt(self, *args: str) -> dbtRunnerResult:
        result = self.invoke(*args)
        assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"
        return result

    def load(self, state: dict[str, list[dict]], load_id: str) -> None:
        """Merge records on id, as the dlt source does."""
        with duckdb.connect(str(self.database)) as connection:
            for table, records in state.items():
                for record in records:
                    row = {
                        column: json.dumps(value) if isinstance(value, list) else value
                        for column, value in record.items()
                    } | {"_dlt_load_id": load_id}
                    columns = ", ".join(row)
                    placeholders = ", ".join("?" for _ in row)
                    connection.execute(
                        f"delete from ecosystems_raw.{table} where id = ?", [row["id"]]
                    )
                    connection.execute(
                        f"insert into ecosystems_raw.{table} ({columns}) values ({placeholders})",
                        list(row.values()),
                    )

    def rows(self, sql: str, key: str, session_time_zone: str | None = None) -> dict[str, dict]:
        """Rows of a query keyed by one of its columns."""
        with duckdb.connect(str(self.database)) as connection:
            if session_time_zone:
                connection.execute(f"set TimeZone = '{session_time_zone}'")
            cursor = connection.execute(sql)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        keyed = {row[key]: row for row in rows}
        assert len(keyed) == len(rows), f"{key} is not unique"
        return keyed


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        root = tmp_path_factory.mktemp("dbt")
        workspace = DbtWorkspace(root)
        monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(workspace.database))
        yield workspace


@pytest.fixture(scope="module")
def first_build(workspace: DbtWorkspace) -> dict[str, dict]:
    workspace.load(FIRST_STATE, FIRST_LOAD)
    result = workspace.dbt("build", *OOB_JOB_SELECTION)
    built = {node.node.unique_id for node in result.result}
    assert {"seed.goalsync.company", "seed.goalsync.gs_user"} <= built
    assert any(unique_id.startswith("unit_test.") for unique_id in built)
    return {
        "goals": workspace.rows("select * from gainsight.customer_goals", "goal_key"),
        "errors": workspace.rows("select * from gainsight.customer_goals_errors", "record_key"),
        "statuses": {node.node.name: str(node.status) for node in result.result},
    }


@pytest.fixture(scope="module")
def second_build(workspace: DbtWorkspace, first_build: dict) -> dict[str, dict]:
    workspace.load(SECOND_STATE, SECOND_LOAD)
    # The unit tests ran in the first build and do not read the data.
    workspace.dbt("build", "--exclude-resource-type", "unit_test")
    return {
        "goals": workspace.rows("select * from gainsight.customer_goals", "goal_key"),
        "errors": workspace.rows("select * from gainsight.customer_goals_errors", "record_key"),
    }


CONTRACT_COLUMNS = [
    ("gsid", "VARCHAR"),
    ("goal_key", "VARCHAR"),
    ("account_name", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
    ("created_by_name", "VARCHAR"),
    ("crm_opportunity_name", "VARCHAR"),
    ("document_id", "VARCHAR"),
    ("document_name", "VARCHAR"),
    ("kpi_actuals", "DOUBLE"),
    ("kpi_name", "VARCHAR"),
    ("kpi_baseline", "DOUBLE"),
    ("kpi_target", "DOUBLE"),
    ("kpi_id", "VARCHAR"),
    ("last_update_by_name", "VARCHAR"),
    ("total_benefit", "DOUBLE"),
    ("value_driver_id", "VARCHAR"),
    ("value_driver_name", "VARCHAR"),
    ("value_driver_solution", "VARCHAR"),
    ("value_driver_category", "VARCHAR"),
    ("value_realization_calendar", "JSON"),
    ("company_gsid", "VARCHAR"),
    ("created_by_gsid", "VARCHAR"),
    ("last_updated_by_gsid", "VARCHAR"),
]


def acme_goal(goal_key: str, value_driver_id: str, **columns) -> dict:
    """A doc_acme goal as the contract describes it; KPI columns default to a KPI-less row."""
    row = {
        "gsid": expected_gsid(goal_key),
        "goal_key": goal_key,
        "account_name": "Account of doc_acme",
        "created_at": datetime(2026, 1, 5, 9, 30),
        "created_by_name": "Dana Reyes",
        "crm_opportunity_name": "Opportunity of doc_acme",
        "document_id": "doc_acme",
        "document_name": 'doc_acme — Business Case, "2026"',
        "kpi_actuals": None,
        "kpi_name": None,
        "kpi_baseline": None,
        "kpi_target": None,
        "kpi_id": None,
        "last_update_by_name": "Lee Park",
        "total_benefit": 1250000.0,
        "value_driver_id": value_driver_id,
        "value_driver_name": f"Value driver {value_driver_id}",
        "value_driver_solution": "Cloud Migration",
        "value_driver_category": "Cost Reduction",
        "value_realization_calendar": "[]",
        "company_gsid": "1P02ACME",
        "created_by_gsid": "1P01DANA",
        "last_updated_by_gsid": "1P01LEE2",
    }
    return row | columns


def acme_kpi_goal(kpi_id: str, kpi_actuals: float | None, **columns) -> dict:
    kpi_columns = {
        "kpi_id": kpi_id,
        "kpi_name": f"KPI {kpi_id}",
        "kpi_actuals": kpi_actuals,
        "kpi_baseline": 52000.0,
        "kpi_target": 40000.0,
        "value_realization_calendar": json.dumps(ACME_CALENDAR),
    }
    return acme_goal(kpi_id, "vd_acme_kpis", **(kpi_columns | columns))


def globex_goal(kpi_id: str) -> dict:
    return acme_goal(
        kpi_id,
        "vd_globex",
        account_name="Account of doc_globex",
        crm_opportunity_name=None,
        created_by_name=None,
        document_id="doc_globex",
        document_name='doc_globex — Business Case, "2026"',
        kpi_id=kpi_id,
        kpi_name=f"KPI {kpi_id}",
        kpi_baseline=52000.0,
        kpi_target=40000.0,
        company_gsid="1P02GLOBEX",
        created_by_gsid=None,
        last_updated_by_gsid=None,
    )


def assert_goals(actual: dict[str, dict], expected: list[dict]) -> None:
    assert sorted(actual) == sorted(row["goal_key"] for row in expected)
    for row in expected:
        got = dict(actual[row["goal_key"]])
        for column in ("value_realization_calendar",):
            assert json.loads(got[column]) == json.loads(row[column]), row["goal_key"]
            got[column] = row[column]
        for column, value in row.items():
            assert got[column] == value, f"{row['goal_key']}.{column}: {got[column]!r} != {value!r}"


def test_customer_goals_table_matches_the_contract(first_build, workspace):
    described = workspace.rows("describe gainsight.customer_goals", "column_name")
    assert [(name, column["column_type"]) for name, column in described.items()] == CONTRACT_COLUMNS


def test_seeds_load_with_declared_types_and_empty_fields_as_null(first_build, workspace):
    company = workspace.rows("describe gainsight.company", "column_name")
    assert {name: column["column_type"] for name, column in company.items()} == {
        "gsid": "VARCHAR",
        "name": "VARCHAR",
        "sfdc_account_id": "VARCHAR",
        "industry": "VARCHAR",
        "arr": "DOUBLE",
        "status": "VARCHAR",
    }
    users = workspace.rows("describe gainsight.gs_user", "column_name")
    assert {name: column["column_type"] for name, column in users.items()} == {
        "gsid": "VARCHAR",
        "name": "VARCHAR",
        "email": "VARCHAR",
        "is_active": "BOOLEAN",
    }
    companies = workspace.rows("select * from gainsight.company where gsid <> '1P02GLOBEX'", "gsid")
    assert companies["1P02ACME"]["name"] == "Acme, Inc."
    assert companies["1P02ACME"]["arr"] == 1250000.5
    assert companies["1P02NOACCOUNT"]["sfdc_account_id"] is None
    assert companies["1P02INITECHEAST"]["arr"] is None
    users = workspace.rows("select * from gainsight.gs_user", "gsid")
    assert users["1P01NOMAIL"]["email"] is None
    assert users["1P01LEE2"]["is_active"] is False


def test_a_company_export_with_a_repeated_gsid_only_warns(first_build):
    """The grain tests of the seeds warn: a user's export may repeat a company (1P02GLOBEX)."""
    statuses = first_build["statuses"]
    assert statuses["unique_stg_gainsight__companies_gsid"] == "warn"
    assert statuses["not_null_stg_gainsight__companies_gsid"] == "pass"
    assert statuses["unique_stg_gainsight__users_gsid"] == "pass"
    assert statuses["unique_int_goals__mapped_goal_key"] == "pass"
    assert statuses["unique_int_kpis__live_kpi_id"] == "pass"


def test_source_freshness_only_warns(first_build, workspace):
    workspace.dbt("source", "freshness")


def test_first_build_loads_live_goals_with_their_mappings(first_build):
    assert_goals(
        first_build["goals"],
        [
            acme_kpi_goal("kpi_unsorted", 47000.5),
            acme_kpi_goal("kpi_null_latest", None, kpi_baseline=None, kpi_target=None),
            acme_kpi_goal("kpi_tie", 2.0),
            acme_goal("vd_acme_no_kpi", "vd_acme_no_kpi", total_benefit=-12.5),
            acme_goal("vd_acme_only_deleted_kpi", "vd_acme_only_deleted_kpi", total_benefit=None),
            globex_goal("kpi_empty_actuals"),
            globex_goal("kpi_null_actuals"),
        ],
    )
    assert first_build["goals"]["vd_acme_no_kpi"]["value_realization_calendar"] == "[]"


def test_first_build_rejects_goals_without_exactly_one_company(first_build):
    errors = first_build["errors"]
    assert {key: row["reason"] for key, row in errors.items()} == {
        "kpi_initech": "company_ambiguous",
        "vd_wrong_case": "company_not_found",
        "kpi_no_crm": "company_not_found",
    }
    record = json.loads(errors["kpi_initech"]["record"])
    assert record["goal_key"] == "kpi_initech"
    assert record["document_id"] == "doc_initech"
    assert record["crm_account_id"] == "001INITECH"
    assert record["value_driver_id"] == "vd_initech"
    assert record["kpi_name"] == "KPI kpi_initech"
    assert record["realization_calendar"] == []
    wrong_case = json.loads(errors["vd_wrong_case"]["record"])
    assert wrong_case["crm_account_id"] == "001acme"
    assert wrong_case["kpi_id"] is None
    assert json.loads(errors["kpi_no_crm"]["record"])["crm_account_id"] is None


def test_timestamps_do_not_depend_on_the_session_time_zone(first_build, workspace):
    for time_zone in ("UTC", "Asia/Kolkata", "America/Los_Angeles"):
        documents = workspace.rows(
            "select document_id, created_at, deleted_at from staging.stg_ecosystems__documents",
            "document_id",
            session_time_zone=time_zone,
        )
        assert documents["doc_acme"]["created_at"] == datetime(2026, 1, 5, 9, 30)
        assert documents["doc_deleted"]["deleted_at"] == datetime(2026, 3, 2, 10, 0)


def test_second_build_follows_updates_and_tombstones(first_build, second_build):
    assert_goals(
        second_build["goals"],
        [
            acme_kpi_goal("kpi_unsorted", 46000.0, kpi_name="Monthly cloud spend, renamed"),
            acme_kpi_goal("kpi_tie", 2.0),
            acme_goal(
                "kpi_new",
                "vd_acme_no_kpi",
                total_benefit=-12.5,
                kpi_id="kpi_new",
                kpi_name="KPI kpi_new",
                kpi_actuals=7.0,
                kpi_baseline=52000.0,
                kpi_target=40000.0,
            ),
            acme_goal("vd_acme_only_deleted_kpi", "vd_acme_only_deleted_kpi", total_benefit=None),
            acme_goal(
                "kpi_initech",
                "vd_initech",
                account_name="Account of doc_initech",
                crm_opportunity_name="Opportunity of doc_initech",
                document_id="doc_initech",
                document_name='doc_initech — Business Case, "2026"',
                kpi_id="kpi_initech",
                kpi_name="KPI kpi_initech",
                kpi_baseline=52000.0,
                kpi_target=40000.0,
            ),
            acme_goal(
                "vd_waiting_for_doc",
                "vd_waiting_for_doc",
                account_name="Account of doc_late",
                crm_opportunity_name="Opportunity of doc_late",
                document_id="doc_late",
                document_name='doc_late — Business Case, "2026"',
                company_gsid="1P02GLOBEX",
            ),
        ],
    )
    assert {key: row["reason"] for key, row in second_build["errors"].items()} == {
        "vd_wrong_case": "company_not_found",
        "kpi_no_crm": "company_not_found",
    }
    unchanged = first_build["goals"]["kpi_tie"]
    assert second_build["goals"]["kpi_tie"] == unchanged


def test_kpis_follow_their_parents_across_loads(second_build, workspace):
    """A KPI leaves and returns with its value driver and document, as a full rebuild has it."""
    workspace.load(THIRD_STATE, THIRD_LOAD)
    workspace.dbt("run", *OOB_JOB_SELECTION)
    persisted = {
        "kpis": workspace.rows("select * from intermediate.int_kpis__latest_actual", "kpi_id"),
        "goals": workspace.rows("select * from gainsight.customer_goals", "goal_key"),
    }
    assert {key: row["value_driver_id"] for key, row in persisted["kpis"].items()} == {
        "kpi_unsorted": "vd_acme_kpis",
        "kpi_tie": "vd_waiting_for_doc",
        "kpi_no_crm": "vd_no_crm",
        "kpi_of_deleted_doc": "vd_of_deleted_doc",
        "kpi_orphan": "vd_never_arrives",
    }
    assert persisted["goals"]["kpi_tie"]["document_id"] == "doc_late"
    workspace.dbt("run", "--full-refresh", *OOB_JOB_SELECTION)
    assert persisted == {
        "kpis": workspace.rows("select * from intermediate.int_kpis__latest_actual", "kpi_id"),
        "goals": workspace.rows("select * from gainsight.customer_goals", "goal_key"),
    }


def test_docs_generate(second_build, workspace):
    workspace.dbt("docs", "generate")
    catalog = json.loads((workspace.target_path / "catalog.json").read_text())
    assert "model.goalsync.customer_goals" in catalog["nodes"]
    assert "model.goalsync.customer_goals_errors" in catalog["nodes"]
    manifest = json.loads((workspace.target_path / "manifest.json").read_text())
    models = {key: node for key, node in manifest["nodes"].items() if key.startswith("model.")}
    undocumented = [key for key, node in models.items() if not node["description"].strip()]
    for key, built in catalog["nodes"].items():
        if key in models:
            described = {
                name.lower()
                for name, column in models[key]["columns"].items()
                if column["description"].strip()
            }
            undocumented += [f"{key}.{name}" for name in built["columns"] if name not in described]
    assert undocumented == []


LOOKUP_FIXTURES = """
with goals as (
    select 'g_matched' as goal_key, 'Acme' as account, 'EU' as region
    union all select 'g_region_case', 'acme', 'eu'
    union all select 'g_region_null', 'Acme', null
    union all select 'g_several', 'globex', 'US'
),
companies as (
    select 'C1' as gsid, 'ACME' as name, 'EU' as region
    union all select 'C3', 'Globex', 'US'
    union all select 'C2', 'GLOBEX', 'US'
    union all select null, 'Acme', 'eu'
)
"""


def test_derived_lookup_on_two_columns_with_a_default(workspace):
    lookup = (
        "{{ derived_lookup('goals', 'companies', "
        "[{'source': 'account', 'target': 'name', 'case_insensitive': true}, "
        "{'source': 'region', 'target': 'region'}], "
        "'company_gsid', on_no_match='unknown', on_multiple='lowest') }}"
    )
    result = workspace.dbt("show", "--inline", LOOKUP_FIXTURES + lookup, "--limit", "10")
    table = result.result.results[0].agate_table
    rows = {
        row["goal_key"]: (
            row["company_gsid"],
            row["company_gsid__lookup_status"],
            row["company_gsid__lookup_rejected"],
        )
        for row in table.rows
    }
    assert rows == {
        "g_matched": ("C1", "matched", False),
        "g_region_case": ("unknown", "no_match", False),
        "g_region_null": ("unknown", "no_match", False),
        "g_several": ("C2", "multiple", False),
    }


def test_derived_lookup_allows_at_most_six_column_pairs(workspace):
    pairs = ", ".join(f"{{'source': 'c{i}', 'target': 'c{i}'}}" for i in range(7))
    lookup = f"{{{{ derived_lookup('goals', 'companies', [{pairs}], 'company_gsid') }}}}"
    messages: list[str] = []
    result = workspace.invoke(
        "compile",
        "--inline",
        LOOKUP_FIXTURES + lookup,
        callbacks=[lambda event: messages.append(event.info.msg)],
    )
    assert not result.success
    assert any("the limit is 6" in message for message in messages)
