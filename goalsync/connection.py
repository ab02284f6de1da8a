"""The one Ecosystems connection: stored in `.dlt/secrets.toml`, overridable by env vars."""

import getpass
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions
from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.container import Container
from dlt.common.configuration.providers import (
    ConfigTomlProvider,
    EnvironProvider,
    SecretsTomlProvider,
)
from dlt.common.configuration.providers.provider import ConfigProvider
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.configuration.specs.config_providers_context import ConfigProvidersContainer
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
from dlt.common.configuration.utils import TraceLogContext
from dlt.common.typing import TSecretStrValue

from extract.ecosystems import EcosystemsAPIError, EcosystemsClient
from extract.ecosystems.settings import DEFAULT_BASE_URL

from .errors import ConfigError, first_line, mask_token, redacted, shown_path
from .paths import PROJECT_ROOT

DEFAULT_SETTINGS_DIR = PROJECT_ROOT / ".dlt"
SECRETS_FILE_NAME = "secrets.toml"
SECTIONS = ("sources", "ecosystems")
ACCESS_TOKEN_KEY = "access_token"
BASE_URL_KEY = "base_url"
NAME_KEY = "connection_name"
ACCESS_TOKEN_ENV = EnvironProvider.get_key_name(ACCESS_TOKEN_KEY, *SECTIONS)
BASE_URL_ENV = EnvironProvider.get_key_name(BASE_URL_KEY, *SECTIONS)
# a connection written by hand in secrets.toml (dlt's own convention) may carry no name
UNNAMED_CONNECTION = "Ecosystems"
ENVIRONMENT_CONNECTION = "environment"

TEST_CONNECTION_TIMEOUT_SECONDS = 15.0
TEST_CONNECTION_MAX_ATTEMPTS = 2
TEST_CONNECTION_BACKOFF_FACTOR = 0.5

_NAME_MAX_LENGTH = 100
_EDIT_HINT = "edit it with `orchestrate.py connection edit`"
_CREATE_HINT = "create one with `orchestrate.py connection create --name NAME`"

ConnectionSource = Literal["environment", "stored", "sandbox"]


@dataclass(frozen=True)
class Connection:
    """The Ecosystems connection: stored, from the environment, or the built-in sandbox."""

    name: str
    base_url: str
    access_token: str = field(repr=False)
    source: ConnectionSource = "stored"

    @property
    def masked_token(self) -> str:
        return mask_token(self.access_token)

    def __str__(self) -> str:
        return f"{self.name} ({self.base_url}, token {self.masked_token}, from {self.source})"


@dataclass(frozen=True)
class TestConnectionResult:
    """What `GET /me` said: the organization on success, else a one-line, token-free reason."""

    __test__ = False  # not a pytest test class, whatever its name

    ok: bool
    organization_name: str | None = None
    reason: str | None = None

    @property
    def summary(self) -> str:
        if self.ok:
            return f"connected to Ecosystems organization '{self.organization_name or '?'}'"
        return f"connection failed: {self.reason}"


def secrets_path(settings_dir: Path = DEFAULT_SETTINGS_DIR) -> Path:
    return settings_dir / SECRETS_FILE_NAME


def load_stored_connection(settings_dir: Path = DEFAULT_SETTINGS_DIR) -> Connection | None:
    """The stored connection, or None when `[sources.ecosystems]` holds none."""
    section = _section(_read_document(secrets_path(settings_dir)))
    if section is None or (ACCESS_TOKEN_KEY not in section and NAME_KEY not in section):
        return None
    return Connection(
        name=str(section.get(NAME_KEY) or UNNAMED_CONNECTION),
        base_url=str(section.get(BASE_URL_KEY) or DEFAULT_BASE_URL),
        access_token=str(section.get(ACCESS_TOKEN_KEY) or ""),
    )


def refuse_second_connection(settings_dir: Path = DEFAULT_SETTINGS_DIR) -> None:
    """Gainsight keeps exactly one Ecosystems connection: a second one is refused."""
    existing = load_stored_connection(settings_dir)
    if existing is not None:
        raise ConfigError(
            f"a connection '{existing.name}' already exists in "
            f"{shown_path(secrets_path(settings_dir))}: {_EDIT_HINT} or "
            "delete it with `orchestrate.py connection delete`"
        )


def create_connection(
    name: str,
    access_token: str,
    base_url: str | None = DEFAULT_BASE_URL,
    settings_dir: Path = DEFAULT_SETTINGS_DIR,
) -> Connection:
    """Store the one connection (None: the production base URL); refuses a second one."""
    refuse_second_connection(settings_dir)
    path = secrets_path(settings_dir)
    document = _read_document(path)
    values = {
        NAME_KEY: _checked_name(name),
        BASE_URL_KEY: _checked_base_url(base_url or DEFAULT_BASE_URL, "base URL"),
        ACCESS_TOKEN_KEY: _checked_token(access_token),
    }
    _update_section(document, values)
    _write_document(path, document)
    return Connection(values[NAME_KEY], values[BASE_URL_KEY], values[ACCESS_TOKEN_KEY])


def edit_connection(
    name: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    settings_dir: Path = DEFAULT_SETTINGS_DIR,
) -> Connection:
    """Change the given fields of the stored connection; other fields and file content stay."""
    path = secrets_path(settings_dir)
    document = _read_document(path)
    if load_stored_connection(settings_dir) is None:
        raise ConfigError(f"no connection is stored in {shown_path(path)}: {_CREATE_HINT}")
    values: dict[str, str] = {}
    if name is not None:
        values[NAME_KEY] = _checked_name(name)
    if base_url is not None:
        values[BASE_URL_KEY] = _checked_base_url(base_url, "base URL")
    if access_token is not None:
        values[ACCESS_TOKEN_KEY] = _checked_token(access_token)
    if not values:
        raise ConfigError("nothing to change: give a new name, access token or base URL")
    _update_section(document, values)
    _write_document(path, document)
    edited = load_stored_connection(settings_dir)
    assert edited is not None
    return edited


def delete_connection(settings_dir: Path = DEFAULT_SETTINGS_DIR) -> Connection:
    """Remove the stored connection; the rest of `secrets.toml` stays."""
    path = secrets_path(settings_dir)
    document = _read_document(path)
    deleted = load_stored_connection(settings_dir)
    if deleted is None:
        raise ConfigError(f"no connection is stored in {shown_path(path)}: nothing to delete")
    sources = document[SECTIONS[0]]
    section = sources[SECTIONS[1]]
    for key in (NAME_KEY, BASE_URL_KEY, ACCESS_TOKEN_KEY):
        section.pop(key, None)
    if not section:
        del sources[SECTIONS[1]]
    if not sources:
        del document[SECTIONS[0]]
    if document:
        _write_document(path, document)
    else:
        path.unlink()
    return deleted


def resolve_connection(settings_dir: Path = DEFAULT_SETTINGS_DIR) -> Connection | None:
    """The connection to use, resolved by dlt (env vars, then secrets.toml, then config.toml).

    None when no access token is configured anywhere: the caller starts the sandbox.
    """
    stored = load_stored_connection(settings_dir)  # also turns a broken file into a ConfigError
    settings, providers = _resolved_settings(settings_dir)
    access_token = (settings.access_token or "").strip()
    if not access_token:
        return None
    base_url = (settings.base_url or "").strip()
    from_environment = providers.get(ACCESS_TOKEN_KEY) == EnvironProvider().name
    if base_url:
        where = _location(providers.get(BASE_URL_KEY), BASE_URL_KEY, settings_dir)
        base_url = _checked_base_url(base_url, where)
    if from_environment or stored is None:
        name = ENVIRONMENT_CONNECTION if from_environment else UNNAMED_CONNECTION
    else:
        name = stored.name
    return Connection(
        name=name,
        base_url=base_url or DEFAULT_BASE_URL,
        access_token=access_token,
        source="environment" if from_environment else "stored",
    )


@configspec
class EcosystemsSettings(BaseConfiguration):
    """`[sources.ecosystems]` as dlt resolves it for the source (`dlt.secrets.value`)."""

    access_token: TSecretStrValue | None = None
    base_url: str | None = None


def _resolved_settings(settings_dir: Path) -> tuple[EcosystemsSettings, dict[str, str]]:
    """dlt's own resolution over the settings folder; with the provider that gave each key."""
    return resolve_project_settings(EcosystemsSettings(), SECTIONS, settings_dir)


def resolve_project_settings(
    spec: BaseConfiguration, sections: tuple[str, ...], settings_dir: Path = DEFAULT_SETTINGS_DIR
) -> tuple[Any, dict[str, str]]:
    """`spec` as dlt resolves it from the environment and the project's settings folder
    (whatever the working directory); with the provider that gave each key."""
    container = Container()
    run_context = container[PluggableRunContext]
    project_providers = run_context.providers
    run_context.providers = ConfigProvidersContainer(_providers(settings_dir))
    try:
        with container.injectable_context(TraceLogContext()) as traces:
            settings = resolve_configuration(spec, sections=sections)
    finally:
        run_context.providers = project_providers
    return settings, {trace.key: trace.provider_name for trace in traces.resolved_traces}


def test_connection(
    connection: Connection,
    timeout: float = TEST_CONNECTION_TIMEOUT_SECONDS,
    max_attempts: int = TEST_CONNECTION_MAX_ATTEMPTS,
    backoff_factor: float = TEST_CONNECTION_BACKOFF_FACTOR,
) -> TestConnectionResult:
    """Gainsight's "Test Connection": `GET /me` with few retries; never raises for API trouble."""
    token = connection.access_token
    try:
        client = EcosystemsClient(
            connection.base_url,
            token,
            request_timeout=timeout,
            max_attempts=max_attempts,
            backoff_factor=backoff_factor,
        )
        me = client.get_me()
    except EcosystemsAPIError as error:
        return TestConnectionResult(ok=False, reason=redacted(first_line(error), token))
    except Exception as error:  # a broken URL or token must still give one line, not a traceback
        reason = f"request failed ({type(error).__name__}); check the base URL and the token"
        return TestConnectionResult(ok=False, reason=redacted(reason, token))
    scopes = _nested(me, "token", "scopes")
    if isinstance(scopes, list) and "read" not in scopes:
        return TestConnectionResult(
            ok=False,
            reason="the Ecosystems access token lacks the 'read' scope: "
            "create a token with the read scope",
        )
    organization = _nested(me, "organization", "name")
    return TestConnectionResult(
        ok=True, organization_name=None if organization is None else str(organization)
    )


test_connection.__test__ = False  # type: ignore[attr-defined]  # keeps pytest from collecting it


def read_token(
    prompt: str = "Ecosystems access token: ",
    stdin: TextIO | None = None,
    prompt_stream: TextIO | None = None,
) -> str:
    """Read the token from a hidden prompt on a terminal, else one line of stdin (never argv)."""
    stdin = stdin if stdin is not None else sys.stdin
    hidden = stdin.isatty()
    token = getpass.getpass(prompt, stream=prompt_stream) if hidden else stdin.readline()
    return _checked_token(token.strip())


def _providers(settings_dir: Path) -> list[ConfigProvider]:
    return [
        EnvironProvider(),
        SecretsTomlProvider(settings_dir=str(settings_dir)),
        ConfigTomlProvider(settings_dir=str(settings_dir)),
    ]


def _location(provider_name: str | None, key: str, settings_dir: Path) -> str:
    if provider_name == EnvironProvider().name:
        return EnvironProvider.get_key_name(key, *SECTIONS)
    in_secrets = provider_name == SecretsTomlProvider(settings_dir=str(settings_dir)).name
    file_name = secrets_path(settings_dir) if in_secrets else (settings_dir / "config.toml")
    return f"{shown_path(file_name)} key {'.'.join((*SECTIONS, key))}"


def _section(document: tomlkit.TOMLDocument) -> Any:
    sources = document.get(SECTIONS[0])
    if not isinstance(sources, dict):
        return None
    section = sources.get(SECTIONS[1])
    return section if isinstance(section, dict) else None


def _read_document(path: Path) -> tomlkit.TOMLDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tomlkit.document()
    except OSError as error:
        raise ConfigError(f"{shown_path(path)}: cannot read it ({error.strerror})") from None
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as error:
        raise ConfigError(
            f"{shown_path(path)} line {error.line}: invalid TOML ({_parse_problem(error)}); "
            "fix the file or delete it and run `orchestrate.py connection create` again"
        ) from None


def _parse_problem(error: tomlkit.exceptions.ParseError) -> str:
    # tomlkit appends " at line L col C" to its message; the line is reported separately
    return str(error).split(" at line ")[0]


def _update_section(document: tomlkit.TOMLDocument, values: dict[str, str]) -> None:
    sources = document.get(SECTIONS[0])
    if sources is None:
        sources = tomlkit.table(is_super_table=True)
        document[SECTIONS[0]] = sources
    section = sources.get(SECTIONS[1])
    if section is None:
        section = tomlkit.table()
        section.comment("the Ecosystems connection, managed by `orchestrate.py connection`")
        sources[SECTIONS[1]] = section
    for key, value in values.items():
        section[key] = value


def _write_document(path: Path, document: tomlkit.TOMLDocument) -> None:
    """Replace the file atomically; the new file is created 0600, so it is never world-readable."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(tomlkit.dumps(document))
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or "\n" in name or len(name) > _NAME_MAX_LENGTH:
        raise ConfigError(
            f"connection name {name!r} is not valid: give one line of 1 to "
            f"{_NAME_MAX_LENGTH} characters"
        )
    return name


def _checked_token(token: str) -> str:
    if not token:
        raise ConfigError(
            "no access token given: type it at the prompt or pipe it on stdin "
            "(it is never read from the command line)"
        )
    if any(character.isspace() for character in token):
        raise ConfigError(
            "the access token contains whitespace: copy it again from the Ecosystems settings page"
        )
    return token


def _checked_base_url(base_url: str, where: str) -> str:
    base_url = base_url.strip()
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ConfigError(
            f"{where}: {base_url!r} is not an http(s) base URL; use one like {DEFAULT_BASE_URL}"
        )
    return base_url


def _nested(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document
