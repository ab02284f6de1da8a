"""Resource faults: the disk fills up while a real `orchestrate.py` loads or builds, and a
database folder on a read-only file system. Each disk is a small tmpfs mounted for the test
(mounting needs root, as in CI; elsewhere the tests skip and say so)."""

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import (
    Orchestrate,
    clean_run,
    copy_database,
    mutated_sandbox,
    raw_tables,
    result,
    run_environment,
    runs,
    snapshot,
)

from goalsync import cli

DISK_SIZE = "48m"  # the database and dlt's folder with room to spare, before it is filled


def mounted_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")


@pytest.fixture
def disk(tmp_path) -> Iterator[Path]:
    folder = tmp_path / "disk"
    mounted_tmpfs(folder, f"size={DISK_SIZE}")
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=True)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    return clean_run(0, root)[0], clean_run(1, root)[1]


def fill(disk: Path) -> Path:
    """Take every free byte of the disk."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_CREAT | os.O_WRONLY)
    try:
        stats = os.statvfs(disk)
        os.posix_fallocate(descriptor, 0, stats.f_bavail * stats.f_frsize)
    finally:
        os.close(descriptor)
    assert os.statvfs(disk).f_bavail == 0
    return filler


@pytest.mark.parametrize(
    "moment",
    [r"loading what is new into ecosystems_raw", r"dbt \w+: success"],
    ids=["load", "dbt-build"],
)
def test_a_full_disk_fails_the_run_naming_the_folder_and_the_next_run_converges(
    moment, disk, clean, monkeypatch
):
    database = copy_database(clean[0], disk / "data" / "goalsync.duckdb")
    before = snapshot(database)
    with mutated_sandbox(1) as sandbox:
        environment = run_environment(database, sandbox.base_url)
        run = Orchestrate(environment)
        run.wait_for(moment)
        run.signal(signal.SIGSTOP)  # the disk fills up at this very step
        filler = fill(disk)
        run.signal(signal.SIGCONT)
        assert run.process.wait(timeout=120) == cli.EXIT_FAILED, run.output

        reason = (
            f"the disk holding {database.parent} is full (no space left on device): "
            "free space there, then run again"
        )
        assert runs(database)[-1][1:] == ("Failed", reason)
        assert reason in run.output and "Traceback" not in run.output
        after = snapshot(database)
        assert (after["goals"], after["goal_errors"]) == (before["goals"], before["goal_errors"])
        for rows in raw_tables(database).values():
            assert len({row[0] for row in rows}) == len(rows)  # nothing loaded twice

        filler.unlink()
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        assert cli.main(["run"]) == cli.EXIT_OK
    assert result(database) == clean[1]


def test_a_database_folder_on_a_read_only_disk_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "read-only"
    mounted_tmpfs(folder, "size=1m,ro")
    try:
        monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(folder / "goalsync.duckdb"))
        assert cli.main(["run"]) == cli.EXIT_USAGE
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines == [
            f"error: the database folder {folder} is on a read-only file system: "
            "set GOALSYNC_DUCKDB_PATH to a writable location"
        ]
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)
