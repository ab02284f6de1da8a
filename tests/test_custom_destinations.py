"""dbt writes a custom job's object: insert, update, upsert and replace on real dbt runs.

Each job's model reads a plain table (`main.fixture_rows`) the test fills, so one run is one
`dbt build` of the job's own models, checks and destination; no extraction, no CS Goal Sync.
A module fixture copies `dbt_project/` and loads the seeds once; each test has its own copy.
"""

import hashlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from faults_support import copy_project, query

from goalsync import dbt
from goalsync.dbt import run_dbt
from goalsync.engine import Engine
from goalsync.jobs_config import load_jobs_config

REPO = Path(__file__).resolve().parents[1]
OUTPUT_MODEL = """{{ config(schema='custom_staging', materialized='table') }}
select id, name, amount, loaded_at from main.fixture_rows
"""
COMPANY_MODEL = """{{ config(schema='custom_staging', materialized='table') }}
select company_gsid, amount from main.fixture_rows
"""
JOBS = """
  - name: Rows Upsert
    model: fixture_output
    extract: []
    destination:
      object: rows_upserted
      kind: custom
      operation: upsert
      key: [id]
      compare_exclude: [loaded_at]
  - name: Rows Insert
    model: fixture_output
    extract: []
    destination: {object: rows_kept, kind: custom, operation: insert, key: [id]}
  - name: Rows Update
    model: fixture_output
    extract: []
    destination: {object: rows_kept, kind: custom, operation: update, key: [id]}
  - name: Rows Replace
    model: fixture_output
    extract: []
    destination: {object: rows_replaced, kind: custom, operation: replace, key: [id]}
  - name: Rows Per Company
    model: fixture_companies
    extract: []
    destination:
      {object: rows_per_company, kind: company, operation: upsert, key: [company_gsid]}
"""
FIRST = [("a", "Alpha", 1.0, 100), ("b", "Beta", 2.0, 100), ("c", "Gamma", 3.0, 100)]
# a: only loaded_at (compare_exclude) moved; b: changed; c: gone; d: new
SECOND = [("a", "Alpha", 1.0, 200), ("b", "Beta", 20.0, 200), ("d", "Delta", 4.0, 200)]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A project with the fixture models and jobs, and a database holding the seeds."""
    root = tmp_path_factory.mktemp("custom_destinations")
    copy_project(root)
    custom = root / "dbt_project" / "models" / "custom"
    (custom / "fixture_output.sql").write_text(OUTPUT_MODEL, encoding="utf-8")
    (custom / "fixture_companies.sql").write_text(COMPANY_MODEL, encoding="utf-8")
    shipped = (REPO / "jobs.yml").read_text(encoding="utf-8")
    (root / "jobs.yml").write_text(shipped.replace("\nchains:\n", JOBS + "\nchains:\n"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dbt, "DBT_PROJECT_DIR", root / "dbt_project")
        outcome = run_dbt(["seed"], root / "goalsync.duckdb")
    assert outcome.success, outcome.message
    return root


@pytest.fixture
def engine(seeded, tmp_path, monkeypatch) -> Engine:
    root = tmp_path / "custom_destinations"
    shutil.copytree(seeded, root)
    monkeypatch.setattr(dbt, "DBT_PROJECT_DIR", root / "dbt_project")
    source = SimpleNamespace(base_url="http://127.0.0.1:9", access_token="unused")
    return Engine(root / "goalsync.duckdb", load_jobs_config(root / "jobs.yml"), source)


def set_rows(engine: Engine, rows: list[tuple]) -> None:
    query(
        engine.database,
        "create or replace table main.fixture_rows (id varchar, name varchar, amount double, "
        "loaded_at integer, company_gsid varchar)",
    )
    for row in rows:
        query(engine.database, "insert into main.fixture_rows values (?, ?, ?, ?, ?)", [*row])


def run(engine: Engine, job_name: str):
    (result,) = engine.run_job(job_name)
    return result


def counts(result) -> tuple[int, int, int]:
    (objects,) = result.outcome.objects
    return objects.inserted, objects.updated, objects.deleted


def rows(engine: Engine, object_name: str) -> dict[str, tuple]:
    found = query(engine.database, f"select * from gainsight.{object_name} order by id")
    return {row[1]: row for row in found}


def stable_gsid(object_name: str, key: str) -> str:
    """macros/stable_gsid.sql, worked out by hand."""
    code = hashlib.md5(object_name.encode()).hexdigest()[:2].upper()
    return f"1P{code}" + hashlib.md5(f"{object_name}:{key}".encode()).hexdigest().upper()


def with_gsid(object_name: str, values: list[tuple]) -> dict[str, tuple]:
    return {row[0]: (stable_gsid(object_name, row[0]), *row) for row in values}


def test_upsert_inserts_and_updates_and_leaves_other_rows_alone(engine):
    set_rows(engine, [(*row, None) for row in FIRST])
    first = run(engine, "Rows Upsert")
    assert (first.status, counts(first)) == ("Success", (3, 0, 0)), first.message
    assert rows(engine, "rows_upserted") == with_gsid("rows_upserted", FIRST)

    set_rows(engine, [(*row, None) for row in SECOND])
    second = run(engine, "Rows Upsert")

    # a: unchanged but for loaded_at (compare_exclude): neither updated nor written
    assert counts(second) == (1, 1, 0), second.message
    expected = {"a": FIRST[0], "b": SECOND[1], "c": FIRST[2], "d": SECOND[2]}
    assert rows(engine, "rows_upserted") == with_gsid("rows_upserted", list(expected.values()))
    assert run(engine, "Rows Upsert").outcome.objects[0].updated == 0  # nothing changed


def test_update_then_insert_write_one_object_each_their_way(engine):
    set_rows(engine, [(*row, None) for row in FIRST])
    assert counts(run(engine, "Rows Update")) == (0, 0, 0)  # nothing to update yet
    assert rows(engine, "rows_kept") == {}
    assert counts(run(engine, "Rows Insert")) == (3, 0, 0)

    set_rows(engine, [(*row, None) for row in SECOND])
    update = run(engine, "Rows Update")
    assert counts(update) == (0, 2, 0), update.message  # a and b changed; d is not added
    after_update = {"a": SECOND[0], "b": SECOND[1], "c": FIRST[2]}
    assert rows(engine, "rows_kept") == with_gsid("rows_kept", list(after_update.values()))

    insert = run(engine, "Rows Insert")
    assert counts(insert) == (1, 0, 0), insert.message  # d only
    expected = [*after_update.values(), SECOND[2]]
    assert rows(engine, "rows_kept") == with_gsid("rows_kept", expected)
    set_rows(engine, [("b", "Beta", 30.0, 200, None)])
    assert counts(run(engine, "Rows Insert")) == (0, 0, 0)  # an insert never updates
    assert rows(engine, "rows_kept") == with_gsid("rows_kept", expected)


def test_replace_deletes_the_rows_whose_key_left_the_output(engine):
    set_rows(engine, [(*row, None) for row in FIRST])
    assert counts(run(engine, "Rows Replace")) == (3, 0, 0)
    set_rows(engine, [(*row, None) for row in SECOND])

    replaced = run(engine, "Rows Replace")

    assert counts(replaced) == (1, 2, 1), replaced.message  # a's loaded_at counts here
    assert rows(engine, "rows_replaced") == with_gsid("rows_replaced", SECOND)


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (("a", "Again", 9.0, 300, None), "model 'fixture_output' returns 1 keys (id) more than "),
        ((None, "Nobody", 9.0, 300, None), "model 'fixture_output' returns 1 rows with a null key"),
    ],
    ids=["duplicate key", "null key"],
)
def test_a_bad_key_fails_the_job_in_one_line_and_leaves_the_object(engine, bad_row, reason):
    set_rows(engine, [(*row, None) for row in FIRST])
    run(engine, "Rows Upsert")
    before = rows(engine, "rows_upserted")
    set_rows(engine, [(*row, None) for row in SECOND] + [bad_row])

    failed = run(engine, "Rows Upsert")

    assert failed.status == "Failed" and failed.message.startswith(reason), failed.message
    assert "\n" not in failed.message
    assert rows(engine, "rows_upserted") == before


def test_an_unknown_company_fails_a_company_job(engine):
    (company,) = query(engine.database, "select min(gsid) from gainsight.company")[0]
    set_rows(engine, [("a", None, 1.0, None, company)])
    assert counts(run(engine, "Rows Per Company")) == (1, 0, 0)
    set_rows(engine, [("a", None, 2.0, None, company), ("b", None, 1.0, None, "1P02NOSUCHCOMPANY")])

    failed = run(engine, "Rows Per Company")

    assert failed.status == "Failed" and "\n" not in failed.message
    assert failed.message == (
        "model 'fixture_companies' returns 1 rows whose company_gsid is not in "
        "gainsight.company; map companies with derived_lookup"
    )
    assert query(engine.database, "select amount from gainsight.rows_per_company") == [(1.0,)]


def test_a_new_output_column_is_appended(engine):
    set_rows(engine, [(*row, None) for row in FIRST])
    run(engine, "Rows Upsert")
    model = Path(dbt.DBT_PROJECT_DIR) / "models" / "custom" / "fixture_output.sql"
    model.write_text(
        OUTPUT_MODEL.replace("loaded_at from", "loaded_at, upper(name) as shout from"),
        encoding="utf-8",
    )

    result = run(engine, "Rows Upsert")

    columns = query(
        engine.database,
        "select column_name from information_schema.columns where table_schema = 'gainsight' "
        "and table_name = 'rows_upserted' order by ordinal_position",
    )
    assert [name for (name,) in columns] == ["gsid", "id", "name", "amount", "loaded_at", "shout"]
    assert counts(result) == (0, 3, 0), result.message  # every row gained a value
    assert {row[1]: row[5] for row in rows(engine, "rows_upserted").values()} == {
        "a": "ALPHA",
        "b": "BETA",
        "c": "GAMMA",
    }
