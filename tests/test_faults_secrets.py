"""The access token goes only into the Authorization header: every command, failing ones too,
is run with a recognisable token, then all output and every file the project wrote (the
database's text columns, dlt's working folder with traces, state and load packages, dbt's
logs and target) are searched for it. Only the user's secrets file (0600) may hold it."""

import contextlib
import functools
import inspect
import io
import os
import stat
import sys
import tempfile
import time
import uuid
import zlib
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import (
    FAST_SOURCE,
    SCALE,
    clean_run,
    copy_database,
    query,
    runs,
    tables_containing,
)

from extract.sandbox import Fault, SandboxServer
from goalsync import cli
from goalsync import connection as connections
from goalsync.paths import DBT_PROJECT_DIR

SECRET = f"tok_LEAKCHECK_{uuid.uuid4().hex}"
WRONG_TOKEN = f"tok_WRONGLEAK_{uuid.uuid4().hex}"
URL_PASSWORD = f"pw{uuid.uuid4().hex[:12]}"
NEEDLES = (SECRET, WRONG_TOKEN, URL_PASSWORD)


class ConnectionsIn:
    """`goalsync.connection` with its settings folder bound to a temporary one."""

    def __init__(self, settings_dir: Path) -> None:
        self.settings_dir = settings_dir

    def __getattr__(self, name: str):
        value = getattr(connections, name)
        if callable(value) and "settings_dir" in inspect.signature(value).parameters:
            return functools.partial(value, settings_dir=self.settings_dir)
        return value


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(scale=SCALE, token=SECRET)
    requests: list[tuple[str, dict[str, str]]] = []
    handle = server.api.handle

    def recording(method, target, headers, body, client):
        requests.append((target, dict(headers.items())))
        return handle(method, target, headers, body, client)

    server.api.handle = recording
    with server:
        yield server, requests


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("secrets")
    database = copy_database(
        clean_run(0, tmp_path_factory.getbasetemp())[0], root / "data" / "goalsync.duckdb"
    )
    return root, database


@pytest.fixture(scope="module")
def transcript(sandbox, workspace):
    """Every command, failing ones too; returns [(argv, exit status, stdout + stderr)]."""
    server, _ = sandbox
    root, database = workspace
    settings_dir = root / "settings"
    started = time.time()
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(cli, "connections", ConnectionsIn(settings_dir))
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(database))
    for name in (connections.ACCESS_TOKEN_ENV, connections.BASE_URL_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAST_SOURCE.items():
        monkeypatch.setenv(name, value)
    done: list[tuple[list[str], int, str]] = []

    def command(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with captured_output() as output:
            status = cli.main(list(argv))
        done.append((list(argv), status, output.getvalue()))
        return status

    try:
        base = ["--base-url", server.base_url]
        assert command("connection", "create", "--name", "Prod", *base, stdin=SECRET + "\n") == 0
        secrets_file = connections.secrets_path(settings_dir)
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        assert SECRET in secrets_file.read_text()
        assert command("connection", "show") == 0
        assert command("test-connection") == 0
        assert command("preview", "--object", "kpis", "--limit", "3") == 0
        assert command("run") == 0
        run_id = str(runs(database)[-1][0])
        assert command("activity") == 0
        assert command("activity", "--job", "CS Goal Sync") == 0
        assert command("errors", "--run", run_id) == 0
        assert command("errors", "--run", run_id, "--csv", str(root / "errors.csv")) == 0

        server.set_faults(Fault("status", status=503, count=99))
        assert command("run") == cli.EXIT_FAILED  # an API fault
        assert command("test-connection") == cli.EXIT_FAILED
        server.set_faults()

        monkeypatch.setenv(connections.ACCESS_TOKEN_ENV, WRONG_TOKEN)
        assert command("run") == cli.EXIT_FAILED  # a wrong token
        assert command("test-connection") == cli.EXIT_FAILED
        assert command("preview", "--object", "kpis") == cli.EXIT_USAGE
        monkeypatch.setenv(connections.ACCESS_TOKEN_ENV, SECRET)
        refused = f"http://user:{URL_PASSWORD}@127.0.0.1:{free_port()}/v1"
        monkeypatch.setenv(connections.BASE_URL_ENV, refused)
        assert command("test-connection") == cli.EXIT_FAILED
        assert command("run") == cli.EXIT_FAILED
        monkeypatch.setenv(connections.BASE_URL_ENV, f"ftp://user:{URL_PASSWORD}@example.test/")
        assert command("run") == cli.EXIT_USAGE  # a base URL that is not http(s)
        monkeypatch.delenv(connections.ACCESS_TOKEN_ENV)
        monkeypatch.delenv(connections.BASE_URL_ENV)

        files_with_token_before_delete = files_containing(root, SECRET)
        assert command("connection", "delete") == 0
        assert command("connection", "show") == 0
    finally:
        monkeypatch.undo()
    return done, files_with_token_before_delete, started


@contextlib.contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """What a command writes, through Python's streams and straight to file descriptors 1, 2."""
    python_level = io.StringIO()
    with tempfile.TemporaryFile() as fd_level:
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd_level.fileno(), 1)
        os.dup2(fd_level.fileno(), 2)
        streams = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = python_level
        try:
            yield python_level
        finally:
            sys.stdout, sys.stderr = streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            fd_level.seek(0)
            python_level.write(fd_level.read().decode(errors="replace"))


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def files_containing(folder: Path, needle: str, since: float = 0.0) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if (
            path.is_file()
            and path.stat().st_mtime >= since
            and needle.encode() in path.read_bytes()
        ):
            found.append(path)
    return found


def test_the_token_is_sent_only_in_the_authorization_header(sandbox, transcript):
    _, requests = sandbox
    assert requests
    for target, headers in requests:
        assert SECRET not in target and WRONG_TOKEN not in target
        for name, value in headers.items():
            if name.lower() != "authorization":
                assert SECRET not in value and WRONG_TOKEN not in value
    presented = {headers.get("Authorization") for _, headers in requests}
    assert f"Bearer {SECRET}" in presented and f"Bearer {WRONG_TOKEN}" in presented


def test_no_output_of_any_command_shows_the_token_or_url_credentials(transcript):
    done, _, _ = transcript
    assert len(done) >= 18
    for argv, status, output in done:
        for needle in NEEDLES:
            assert needle not in output, (argv, status)
    wrong = [output for argv, status, output in done if argv == ["run"] and status == 1]
    assert any("access token" in output for output in wrong)


def test_only_the_users_secrets_file_ever_held_the_token(workspace, transcript):
    root, _ = workspace
    _, before_delete, _ = transcript
    assert [path.name for path in before_delete] == ["secrets.toml"]
    for needle in NEEDLES:
        assert files_containing(root, needle) == []  # data, dlt folder, CSV; secrets deleted


def test_the_database_holds_no_token_in_any_table_or_pipeline_state(workspace, transcript):
    _, database = workspace
    for needle in NEEDLES:
        assert tables_containing(database, needle) == []
    for (state,) in query(database, "select state from ecosystems_raw._dlt_pipeline_state"):
        text = zlib.decompress(b64decode(state)).decode()
        assert all(needle not in text for needle in NEEDLES)
    assert {status for _, status, _ in runs(database)} >= {"Failed", "Partial Success"}


def test_dbt_logs_and_target_and_dlt_global_files_hold_no_token(transcript):
    _, _, started = transcript
    folders = [DBT_PROJECT_DIR / "logs", DBT_PROJECT_DIR / "target", Path.home() / ".dlt"]
    for folder in folders:
        if folder.is_dir():
            for needle in NEEDLES:
                assert files_containing(folder, needle, since=started - 1) == []
    assert os.environ.get(connections.ACCESS_TOKEN_ENV) != SECRET
