"""Bad configuration and input files: a malformed `jobs.yml`, a broken seed CSV, a database
path that cannot be written, a database from a newer DuckDB or no database at all. Each
stops the command with exit status 2 and one line naming the file and the fix, and nothing
is half done: no run starts, no file is changed."""

import hashlib
import re
import shutil
import struct
from functools import partial
from pathlib import Path

import duckdb
import pytest
from faults_support import FAST_SOURCE

from goalsync import cli, seeds
from goalsync.jobs_config import load_jobs_config
from goalsync.paths import DBT_PROJECT_DIR


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    for name, value in FAST_SOURCE.items():
        monkeypatch.setenv(name, value)
    # none of these commands may reach the API: a run that did would fail with exit 1
    monkeypatch.setenv("SOURCES__ECOSYSTEMS__ACCESS_TOKEN", "tok_config_tests_only")
    monkeypatch.setenv("SOURCES__ECOSYSTEMS__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(tmp_path / "data" / "goalsync.duckdb"))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err
    return " ".join(err.split())  # rich wraps long lines on narrow terminals


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jobs:\n  - name: [unclosed\n", r"jobs\.yml line \d+"),
        ("jobs:\n  - name: CS Goal Sync\n    schedule: every day\n", r"jobs\.yml.*schedule"),
    ],
    ids=["yaml-syntax", "invalid-schedule"],
)
def test_a_malformed_jobs_yml_exits_2_naming_the_file(
    text, expected, tmp_path, monkeypatch, capsys
):
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(text)
    monkeypatch.setattr(cli, "load_jobs_config", partial(load_jobs_config, jobs))
    for command in (["run"], ["activity"]):
        assert cli.main(command) == cli.EXIT_USAGE
        assert re.search(expected, one_error_line(capsys))
    assert not (tmp_path / "data").exists()


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the project's dbt_project.yml and seeds whose CSV files the test breaks."""
    (tmp_path / "dbt_project").mkdir()
    shutil.copy(DBT_PROJECT_DIR / "dbt_project.yml", tmp_path / "dbt_project")
    shutil.copytree(DBT_PROJECT_DIR.parent / "seeds", tmp_path / "seeds")
    monkeypatch.setattr(cli, "check_seeds", partial(seeds.check_seeds, tmp_path / "dbt_project"))
    return tmp_path


def rewrite(path: Path, edit) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


def drop_column(lines: list[str], index: int) -> list[str]:
    return [",".join(v for k, v in enumerate(line.split(",")) if k != index) for line in lines]


@pytest.mark.parametrize(
    ("seed", "edit", "expected"),
    [
        (
            "company.csv",
            partial(drop_column, index=4),
            r"seeds/company\.csv: column arr is missing; the first line must name the columns "
            r"gsid,name,sfdc_account_id,industry,arr,status",
        ),
        (
            "company.csv",
            lambda lines: [*lines[:2], lines[2].rsplit(",", 2)[0] + ",lots,Active", *lines[3:]],
            r"seeds/company\.csv line 3: arr 'lots' is not a number; fix the value or leave it",
        ),
        (
            "gs_user.csv",
            lambda lines: [*lines[:1], lines[1].rsplit(",", 1)[0] + ",maybe", *lines[2:]],
            r"seeds/gs_user\.csv line 2: is_active 'maybe' is not a boolean",
        ),
        (
            "gs_user.csv",
            lambda lines: [*lines[:1], lines[1] + ",extra,fields", *lines[2:]],
            r"seeds/gs_user\.csv line 2: 6 fields where the header has 4",
        ),
    ],
    ids=["missing-column", "text-in-a-number", "not-a-boolean", "unquoted-comma"],
)
def test_a_broken_seed_csv_stops_the_run_before_anything_is_touched(
    seed, edit, expected, project, tmp_path, capsys
):
    rewrite(project / "seeds" / seed, edit)
    assert cli.main(["run"]) == cli.EXIT_USAGE
    assert re.search(expected, one_error_line(capsys))
    assert not (tmp_path / "data").exists()  # no database, no lock, no dlt folder


def test_the_projects_own_seeds_pass_the_check():
    seeds.check_seeds()
    assert {path.name for path in seeds.declared_seeds()} == {"company.csv", "gs_user.csv"}


def test_a_database_path_that_cannot_be_created_exits_2(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be\n")
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(blocker / "goalsync.duckdb"))
    assert cli.main(["run"]) == cli.EXIT_USAGE
    line = one_error_line(capsys)
    assert "cannot create the folder for the database" in line and str(blocker) in line
    assert "set GOALSYNC_DUCKDB_PATH to a writable location" in line
    assert [path.name for path in tmp_path.iterdir()] == ["not-a-folder"]


def newer_duckdb_file(path: Path) -> None:
    """A database file as a newer DuckDB writes it: a storage version this one cannot read."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create table t as select 1 as x")
    header = bytearray(path.read_bytes()[:4096])
    struct.pack_into("<Q", header, 12, 1000)  # the storage version number, after "DUCK"
    checksum = 5381  # DuckDB's header checksum: xor of each 8-byte word times a constant
    for (word,) in struct.iter_unpack("<Q", bytes(header[8:])):
        checksum ^= (word * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    struct.pack_into("<Q", header, 0, checksum)
    with open(path, "r+b") as handle:
        handle.write(header)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            newer_duckdb_file,
            r"was written by another DuckDB version .*storage version number 1000.*: open it "
            r"with that version and EXPORT DATABASE, or move it away",
        ),
        (
            lambda path: path.write_text("gsid,name\n1,not a database\n"),
            r"is not a readable DuckDB database .*: move it away or set GOALSYNC_DUCKDB_PATH",
        ),
    ],
    ids=["newer-duckdb-version", "not-a-duckdb-file"],
)
def test_a_database_file_that_cannot_be_opened_exits_2_and_stays_untouched(
    make, expected, tmp_path, monkeypatch, capsys
):
    database = tmp_path / "data" / "goalsync.duckdb"
    database.parent.mkdir()
    make(database)
    before = fingerprint(database.parent)
    for command in (["run"], ["activity"]):
        assert cli.main(command) == cli.EXIT_USAGE
        line = one_error_line(capsys)
        assert str(database) in line
        assert re.search(expected, line), line
    after = fingerprint(database.parent)
    after.pop(".goalsync.duckdb.lock", None)  # the run lock: an empty file, kept by design
    assert after == before
