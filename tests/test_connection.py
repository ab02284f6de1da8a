"""The one Ecosystems connection: stored in secrets.toml, env wins, Test Connection via GET /me."""

import io
import os
import re
import stat

import pytest
import requests
import requests_mock
import tomlkit

from goalsync import connection
from goalsync.connection import (
    ACCESS_TOKEN_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    Connection,
    create_connection,
    delete_connection,
    edit_connection,
    load_stored_connection,
    mask_token,
    read_token,
    resolve_connection,
)
from goalsync.connection import test_connection as check_connection
from goalsync.errors import ConfigError

TOKEN = "eco_live_SECRET_0123456789_3f9a"
OTHER_TOKEN = "eco_live_OTHER_SECRET_98765_77aa"
BASE_URL = "https://ecosystems.example.test/api/v1"
ME = {
    "organization": {"id": "org_1", "name": "Vendor Example Inc."},
    "token": {"name": "goalsync", "scopes": ["read"]},
}


@pytest.fixture(autouse=True)
def no_connection_in_environment(monkeypatch):
    monkeypatch.delenv(ACCESS_TOKEN_ENV, raising=False)
    monkeypatch.delenv(BASE_URL_ENV, raising=False)


@pytest.fixture
def settings_dir(tmp_path):
    return tmp_path / ".dlt"


def secrets_file(settings_dir):
    return settings_dir / "secrets.toml"


def file_mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def resolved(base_url: str = BASE_URL, token: str = TOKEN) -> Connection:
    return Connection("Production", base_url, token, "stored")


# --- storing -------------------------------------------------------------------------------


def test_create_stores_the_connection_in_dlt_secrets_with_mode_0600(settings_dir):
    created = create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)

    assert created == Connection("Production", BASE_URL, TOKEN)
    stored = tomlkit.parse(secrets_file(settings_dir).read_text())
    assert stored["sources"]["ecosystems"] == {
        "connection_name": "Production",
        "base_url": BASE_URL,
        "access_token": TOKEN,
    }
    assert file_mode(secrets_file(settings_dir)) == 0o600
    assert load_stored_connection(settings_dir) == created


def test_create_defaults_to_the_production_base_url(settings_dir):
    created = create_connection("Production", TOKEN, settings_dir=settings_dir)

    assert created.base_url == DEFAULT_BASE_URL == "https://api.ecosystems.io/v1"


def test_file_is_never_world_readable_even_while_being_written(settings_dir, monkeypatch):
    settings_dir.mkdir()
    secrets_file(settings_dir).write_text('[destination.other]\npassword = "x"\n')
    os.chmod(secrets_file(settings_dir), 0o644)
    modes_when_published = []
    real_replace = os.replace

    def replace_and_record(source, target):
        modes_when_published.append(stat.S_IMODE(os.stat(source).st_mode))
        real_replace(source, target)

    monkeypatch.setattr(connection.os, "replace", replace_and_record)

    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)

    assert modes_when_published == [0o600]
    assert file_mode(secrets_file(settings_dir)) == 0o600
    assert [path.name for path in settings_dir.iterdir()] == ["secrets.toml"]


def test_other_content_of_secrets_toml_survives_create_edit_and_delete(settings_dir):
    settings_dir.mkdir()
    original = (
        "# keys for other pipelines\n"
        "[destination.postgres.credentials]\n"
        'password = "pg-secret"  # rotated monthly\n'
        "\n"
        "[sources.ecosystems]\n"
        "page_size = 500\n"
    )
    secrets_file(settings_dir).write_text(original)

    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)
    edit_connection(name="Prod EU", settings_dir=settings_dir)
    text = secrets_file(settings_dir).read_text()
    assert "# keys for other pipelines" in text and "# rotated monthly" in text
    assert tomlkit.parse(text)["sources"]["ecosystems"]["page_size"] == 500

    delete_connection(settings_dir=settings_dir)
    assert secrets_file(settings_dir).read_text().strip() == original.strip()


def test_a_second_connection_is_refused(settings_dir):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)

    with pytest.raises(ConfigError) as refused:
        create_connection("Staging", OTHER_TOKEN, BASE_URL, settings_dir=settings_dir)

    message = str(refused.value)
    assert "a connection 'Production' already exists" in message
    assert "`orchestrate.py connection edit`" in message
    assert "`orchestrate.py connection delete`" in message
    assert load_stored_connection(settings_dir) == Connection("Production", BASE_URL, TOKEN)


def test_edit_changes_only_the_given_fields(settings_dir):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)

    edit_connection(access_token=OTHER_TOKEN, settings_dir=settings_dir)
    assert load_stored_connection(settings_dir) == Connection("Production", BASE_URL, OTHER_TOKEN)
    edited = edit_connection(name="Prod EU", base_url=DEFAULT_BASE_URL, settings_dir=settings_dir)
    assert edited == Connection("Prod EU", DEFAULT_BASE_URL, OTHER_TOKEN)
    assert file_mode(secrets_file(settings_dir)) == 0o600


def test_edit_or_delete_without_a_connection_is_a_config_error(settings_dir):
    with pytest.raises(ConfigError, match="no connection is stored.*connection create"):
        edit_connection(name="X", settings_dir=settings_dir)
    with pytest.raises(ConfigError, match="no connection is stored.*nothing to delete"):
        delete_connection(settings_dir=settings_dir)


def test_edit_with_nothing_to_change_is_refused(settings_dir):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)

    with pytest.raises(ConfigError, match="nothing to change"):
        edit_connection(settings_dir=settings_dir)


def test_delete_removes_the_connection_and_an_emptied_file(settings_dir):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)

    deleted = delete_connection(settings_dir=settings_dir)

    assert deleted.name == "Production"
    assert load_stored_connection(settings_dir) is None
    assert not secrets_file(settings_dir).exists()
    assert resolve_connection(settings_dir) is None
    create_connection("Staging", OTHER_TOKEN, BASE_URL, settings_dir=settings_dir)


@pytest.mark.parametrize(
    ("name", "token", "base_url", "problem"),
    [
        ("", TOKEN, BASE_URL, "connection name"),
        ("Production", "", BASE_URL, "no access token given"),
        ("Production", "two words", BASE_URL, "contains whitespace"),
        ("Production", TOKEN, "api.ecosystems.io/v1", "not an http(s) base URL"),
        ("Production", TOKEN, "ftp://api.ecosystems.io/v1", "not an http(s) base URL"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_written(
    settings_dir, name, token, base_url, problem
):
    with pytest.raises(ConfigError, match=re.escape(problem)) as refused:
        create_connection(name, token, base_url, settings_dir=settings_dir)

    assert "\n" not in str(refused.value)
    assert not secrets_file(settings_dir).exists()


def test_broken_secrets_toml_names_the_file_and_line(settings_dir):
    settings_dir.mkdir()
    secrets_file(settings_dir).write_text('[sources.ecosystems]\naccess_token = "unterminated\n')

    with pytest.raises(ConfigError) as broken:
        load_stored_connection(settings_dir)

    message = str(broken.value)
    assert message.startswith(f"{secrets_file(settings_dir)} line 2: invalid TOML")
    assert "unterminated" not in message and "\n" not in message


# --- showing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        (TOKEN, "••••••••3f9a"),
        ("abcdefghijkl", "••••••••ijkl"),
        ("abcdefghijk", "••••••••"),
        ("", "••••••••"),
    ],
)
def test_mask_token_shows_at_most_the_last_four_characters(token, shown):
    assert mask_token(token) == shown


def test_token_never_appears_in_repr_or_str(settings_dir):
    stored = create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)
    resolved_connection = resolve_connection(settings_dir)

    for shown in (repr(stored), str(stored), repr(resolved_connection), str(resolved_connection)):
        assert TOKEN not in shown
        assert TOKEN[:-4] not in shown
    assert "••••••••3f9a" in str(resolved_connection)
    assert "Production" in str(resolved_connection)


# --- resolving -----------------------------------------------------------------------------


def test_no_token_anywhere_resolves_to_none(settings_dir):
    assert resolve_connection(settings_dir) is None


def test_stored_connection_is_used_when_the_environment_has_none(settings_dir):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)

    assert resolve_connection(settings_dir) == Connection("Production", BASE_URL, TOKEN, "stored")


def test_environment_wins_over_the_stored_connection(settings_dir, monkeypatch):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)
    monkeypatch.setenv(ACCESS_TOKEN_ENV, OTHER_TOKEN)
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:8765/v1")

    used = resolve_connection(settings_dir)

    assert used is not None
    assert (used.access_token, used.base_url, used.source) == (
        OTHER_TOKEN,
        "http://127.0.0.1:8765/v1",
        "environment",
    )


def test_environment_token_alone_uses_the_default_base_url(settings_dir, monkeypatch):
    monkeypatch.setenv(ACCESS_TOKEN_ENV, OTHER_TOKEN)

    used = resolve_connection(settings_dir)

    assert used == Connection("environment", DEFAULT_BASE_URL, OTHER_TOKEN, "environment")


def test_each_key_resolves_on_its_own_precedence(settings_dir, monkeypatch):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)
    monkeypatch.setenv(ACCESS_TOKEN_ENV, OTHER_TOKEN)

    used = resolve_connection(settings_dir)

    assert used is not None
    assert (used.access_token, used.base_url) == (OTHER_TOKEN, BASE_URL)


def test_base_url_in_config_toml_is_honoured_below_secrets(settings_dir, monkeypatch):
    settings_dir.mkdir()
    (settings_dir / "config.toml").write_text(
        '[sources.ecosystems]\nbase_url = "https://config.example.test/v1"\n'
    )
    monkeypatch.setenv(ACCESS_TOKEN_ENV, OTHER_TOKEN)

    used = resolve_connection(settings_dir)

    assert used is not None and used.base_url == "https://config.example.test/v1"


def test_blank_environment_token_counts_as_unset(settings_dir, monkeypatch):
    monkeypatch.setenv(ACCESS_TOKEN_ENV, "  ")

    assert resolve_connection(settings_dir) is None


def test_invalid_environment_base_url_names_the_variable(settings_dir, monkeypatch):
    monkeypatch.setenv(ACCESS_TOKEN_ENV, OTHER_TOKEN)
    monkeypatch.setenv(BASE_URL_ENV, "api.ecosystems.io")

    with pytest.raises(ConfigError, match=r"^SOURCES__ECOSYSTEMS__BASE_URL: 'api.ecosystems.io'"):
        resolve_connection(settings_dir)


# --- Test Connection -----------------------------------------------------------------------


def me_url(base_url: str = BASE_URL) -> str:
    return f"{base_url}/me"


def assert_failed_without_token(result, *fragments: str) -> None:
    assert not result.ok and result.organization_name is None
    assert result.reason is not None and "\n" not in result.reason
    assert TOKEN not in result.reason and TOKEN not in result.summary
    for fragment in fragments:
        assert fragment in result.reason


def test_test_connection_returns_the_organization(settings_dir):
    create_connection("Production", TOKEN, BASE_URL, settings_dir=settings_dir)
    with requests_mock.Mocker() as mock:
        mock.get(me_url(), json=ME)
        result = check_connection(resolve_connection(settings_dir), backoff_factor=0)

    assert result.ok and result.reason is None
    assert result.organization_name == "Vendor Example Inc."
    assert mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Vendor Example Inc." in result.summary


def test_test_connection_reports_a_wrong_token_without_retrying():
    with requests_mock.Mocker() as mock:
        mock.get(
            me_url(),
            status_code=401,
            json={"error": {"code": "unauthorized", "message": f"bad token {TOKEN}"}},
        )
        result = check_connection(resolved(), backoff_factor=0)

    assert_failed_without_token(result, "401", "rejected the access token")
    assert mock.call_count == 1


def test_test_connection_reports_a_token_without_read_scope():
    with requests_mock.Mocker() as mock:
        mock.get(me_url(), status_code=403, json={"error": {"code": "forbidden", "message": "no"}})
        result = check_connection(resolved(), backoff_factor=0)

    assert_failed_without_token(result, "403", "'read' scope")


def test_test_connection_checks_the_scopes_of_a_successful_answer():
    answer = {**ME, "token": {"name": "goalsync", "scopes": ["write"]}}
    with requests_mock.Mocker() as mock:
        mock.get(me_url(), json=answer)
        result = check_connection(resolved(), backoff_factor=0)

    assert_failed_without_token(result, "'read' scope")


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "cannot reach"),
        (requests.exceptions.ConnectTimeout("timed out"), "did not answer in time"),
        (requests.exceptions.ReadTimeout("read timed out"), "did not answer in time"),
        (requests.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED"), "TLS"),
    ],
)
def test_test_connection_reports_network_failures_in_one_line(error, fragment):
    with requests_mock.Mocker() as mock:
        mock.get(me_url(), exc=error)
        result = check_connection(resolved(), backoff_factor=0, max_attempts=2)

    assert_failed_without_token(result, fragment)
    assert mock.call_count == 2


def test_test_connection_never_echoes_the_token_from_an_unexpected_error(monkeypatch):
    def broken_get_me(self):
        raise ValueError(f"header value {TOKEN} is invalid\nsecond line")

    monkeypatch.setattr(connection.EcosystemsClient, "get_me", broken_get_me)

    result = check_connection(resolved(), backoff_factor=0)

    assert_failed_without_token(result, "ValueError")


# --- reading the token ---------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_read_token_reads_one_stripped_line_from_piped_stdin():
    assert read_token(stdin=io.StringIO(f"  {TOKEN}\nignored\n")) == TOKEN


def test_read_token_uses_a_hidden_prompt_on_a_terminal(monkeypatch):
    prompts = []

    def fake_getpass(prompt, stream=None):
        prompts.append(prompt)
        return f"{TOKEN} "

    monkeypatch.setattr(connection.getpass, "getpass", fake_getpass)
    terminal = FakeTerminal("typed-in-the-clear\n")

    assert read_token(stdin=terminal) == TOKEN
    assert prompts == ["Ecosystems access token: "]
    assert terminal.tell() == 0


def test_read_token_refuses_an_empty_token():
    with pytest.raises(ConfigError, match="no access token given"):
        read_token(stdin=io.StringIO("\n"))
