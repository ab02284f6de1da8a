"""Jobs and chains as data: `builtin_jobs.yml`, then `jobs.yml`, validated by pydantic on load.

Every message names the line it is about: the file is composed into YAML nodes first, and a
map from each value's location (pydantic's `loc`) to its node's line places the error.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from croniter import CroniterError, croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode

from extract.ecosystems.settings import ENDPOINTS_BY_NAME

from .errors import ConfigError, shown_path
from .paths import PROJECT_ROOT

DEFAULT_JOBS_PATH = PROJECT_ROOT / "jobs.yml"
BUILTIN_JOBS_PATH = Path(__file__).with_name("builtin_jobs.yml")
RESOURCES: tuple[str, ...] = tuple(ENDPOINTS_BY_NAME)

DestinationKind = Literal["standard", "custom", "company"]
Operation = Literal["replace", "insert", "update", "upsert"]
DESTINATION_KINDS: tuple[str, ...] = ("standard", "custom", "company")
OPERATIONS: tuple[str, ...] = ("replace", "insert", "update", "upsert")
KEYED_OPERATIONS: tuple[str, ...] = ("insert", "update", "upsert")


@dataclass(frozen=True)
class Destination:
    """The Gainsight-side object a job writes, and how its rows are matched."""

    object_name: str
    kind: DestinationKind
    operation: Operation
    key: tuple[str, ...] = ()
    # columns that do not make a row "updated" when only they differ (e.g. a generated id)
    compare_exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    name: str
    model: str
    errors_model: str | None
    extract: tuple[str, ...]
    destination: Destination
    schedule: str | None = None
    # the job that runs after this one whenever this one succeeds (Gainsight's dependent job)
    dependent_job: str | None = None
    notify_on_success: tuple[str, ...] = ()
    notify_on_failure: tuple[str, ...] = ()
    locked: bool = False
    # models a built-in job builds besides its model and errors model (builtin_jobs.yml only)
    also_builds: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChainSpec:
    name: str
    jobs: tuple[str, ...]
    schedule: str | None = None


@dataclass(frozen=True)
class JobsConfig:
    jobs: dict[str, JobSpec]
    chains: dict[str, ChainSpec]
    path: Path

    def job(self, name: str) -> JobSpec:
        return self.jobs[_known_name(name, self.jobs, "job", self.path)]

    def chain(self, name: str) -> ChainSpec:
        return self.chains[_known_name(name, self.chains, "chain", self.path)]

    def chains_containing(self, job_name: str) -> tuple[ChainSpec, ...]:
        return tuple(chain for chain in self.chains.values() if job_name in chain.jobs)


CS_GOAL_SYNC_NAME = "CS Goal Sync"
DEFAULT_CHAIN_NAME = CS_GOAL_SYNC_NAME
# what jobs.yml may set of a built-in (locked) job
_OVERRIDE_KEYS = ("name", "schedule", "dependent_job", "notify")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")
_NAME_MAX_LENGTH = 100
_CRON_PROBE_START = datetime(2026, 1, 1, tzinfo=UTC)
_YAML_SYNTAX_FIX = "fix the YAML syntax (indent with spaces; quote values containing ': ' or '#')"

_Loc = tuple[str | int, ...]


def load_jobs_config(
    path: Path = DEFAULT_JOBS_PATH, builtin: JobsConfig | None = None
) -> JobsConfig:
    """Read and validate `jobs.yml`; a missing or empty file gives the out-of-the-box defaults."""
    builtin = builtin or _BUILTIN
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return replace(builtin, path=path)
    except OSError as error:
        raise ConfigError(f"{shown_path(path)}: cannot read it ({error.strerror})") from None
    return _load(path, text, builtin)


def read_builtin_jobs(path: Path = BUILTIN_JOBS_PATH) -> JobsConfig:
    """The built-in jobs (locked) and chains that every `jobs.yml` starts from."""
    return _load(path, path.read_text(encoding="utf-8"), None)


def _load(path: Path, text: str, builtin: JobsConfig | None) -> JobsConfig:
    """The jobs and chains of a file added to the built-in ones (None: the built-in file)."""
    document = _Document(path, text)
    if document.data is None:
        return replace(builtin, path=path) if builtin else JobsConfig({}, {}, path)
    try:
        file = _File.model_validate(document.data, context={"doc": document, "builtin": builtin})
    except ValidationError as error:
        raise document.error_from(error) from None
    jobs = {entry.name: entry.spec(builtin) for entry in file.jobs}
    chains = {chain.name: chain.spec() for chain in file.chains}
    if builtin:
        jobs = {**{n: job for n, job in builtin.jobs.items() if n not in jobs}, **jobs}
        chains = {**{n: chain for n, chain in builtin.chains.items() if n not in chains}, **chains}
    _check_references(document, file, jobs)
    return JobsConfig(jobs=jobs, chains=chains, path=path)


# --- the file's schema ------------------------------------------------------------------


def _problem(problem: str, fix: str, at: _Loc = (), on_key: bool = False) -> PydanticCustomError:
    """A validation error with its message; `at` points below the value validated (on_key: at
    the key's line rather than its value's)."""
    context = {"problem": problem, "fix": fix, "at": at, "on_key": on_key}
    return PydanticCustomError("goalsync", "{problem}; {fix}", context)


def _text(value: object, what: str, at: _Loc = ()) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _problem(f"{what} is not text", "write it as a plain value", at=at)
    return str(value)


def _listed(names) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _Text(what: str) -> Any:
    return Annotated[str, BeforeValidator(lambda value: _text(value, what))]


def _Rule(base: Any, holds: Callable[[str], object], problem: str, fix: str) -> Any:
    """`base` that must satisfy `holds`; `{value}` in the problem is the value."""

    def check(value: str) -> str:
        if not holds(value):
            raise _problem(problem.format(value=value), fix)
        return value

    return Annotated[base, AfterValidator(check)]


def _Identifier(key: str) -> Any:
    return _Rule(
        _Text(f"'{key}'"),
        _IDENTIFIER.match,
        f"{key} '{{value}}' is not a valid name",
        "use letters, digits and underscores, starting with a letter",
    )


def _Choice(what: str, choices: tuple[str, ...]) -> Any:
    return _Rule(
        _Text(what),
        choices.__contains__,
        f"{what} '{{value}}' is not valid",
        f"use one of {_listed(choices)}",
    )


def _List(key: str, item: Any) -> Any:
    """A YAML list (null: empty) of `item`s."""

    def check(value: object) -> object:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _problem(f"'{key}' is not a list", "write a YAML list: [a, b]")
        return value

    return Annotated[tuple[item, ...], BeforeValidator(check)]


def _optional_text(key: str) -> Any:
    def check(value: object) -> str | None:
        return None if value is None else _text(value, f"'{key}'").strip() or None

    return Annotated[str | None, BeforeValidator(check)]


def _schedule(value: object) -> str | None:
    expression = None if value is None else _text(value, "'schedule'").strip()
    if not expression:
        return None
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise _problem(
            f"schedule '{expression}' is not a valid 5-field cron expression",
            'use minute hour day-of-month month day-of-week in UTC, e.g. "0 7 * * *"',
        )
    try:
        croniter(expression, _CRON_PROBE_START).get_next(datetime)
    except CroniterError:
        raise _problem(
            f"schedule '{expression}' never fires (no such date)",
            "check the day-of-month and month fields",
        ) from None
    return " ".join(expression.split())


_Schedule = Annotated[str | None, BeforeValidator(_schedule)]


_Resource = _Rule(
    _Text("an extract resource"),
    RESOURCES.__contains__,
    "unknown extract resource '{value}'",
    f"use any of {_listed(RESOURCES)}",
)


def _listed_once(resources: tuple[str, ...]) -> tuple[str, ...]:
    for index, resource in enumerate(resources):
        if resource in resources[:index]:
            raise _problem(f"extract lists '{resource}' twice", "list it once", at=(index,))
    return resources


def _Email(key: str) -> Any:
    return _Rule(
        _Text("an email address"),
        _EMAIL.match,
        f"'{{value}}' in notify.{key} is not an email address",
        "write one address per item, like name@example.com",
    )


class _Mapping(BaseModel):
    """A mapping of the file: unknown and missing keys are reported before its values."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    what: ClassVar[str]
    expected: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, dict):
            raise _problem(f"{cls.what} is not a mapping", f"write {cls.expected}")
        return cls.checked(value, info.context)

    @classmethod
    def checked(cls, value: dict, context: dict) -> dict:
        cls.known_keys(value, cls.what)
        return value

    @classmethod
    def known_keys(cls, value: dict, where: str, builtin_only: tuple[str, ...] = ()) -> None:
        for key in value:
            if key not in cls.model_fields:
                keys = [key for key in cls.model_fields if key not in builtin_only]
                raise _problem(
                    f"unknown key '{key}' in {where}",
                    f"use {_listed(keys)}",
                    at=(key,),
                    on_key=True,
                )

    @classmethod
    def required(cls, value: dict, where: str, keys) -> None:
        for key in keys:
            if value.get(key) is None:
                meaning = cls.model_fields[key].description
                raise _problem(f"{where} has no '{key}'", f"add `{key}:` ({meaning})")


def _entry_name(value: dict, what: str, builtin: dict[str, object]) -> str:
    """The entry's name, stripped: names differing from a built-in one only in case are
    refused, people type them either way."""
    if value.get("name") is None:
        raise _problem(f"a {what} has no name", f"add `name: ...` to the {what}")
    name = _text(value["name"], f"a {what} name", at=("name",)).strip()
    if not name or "\n" in name or len(name) > _NAME_MAX_LENGTH:
        raise _problem(
            f"{what} name {name!r} is not valid",
            f"use one line of 1 to {_NAME_MAX_LENGTH} characters",
            at=("name",),
        )
    for other in builtin:
        if name != other and name.casefold() == other.casefold():
            raise _problem(
                f"{what} name '{name}' differs only in case from the built-in {what} '{other}'",
                f"write '{other}' exactly, or choose another name",
            )
    return name


class _Destination(_Mapping):
    what = "'destination'"
    expected = "a mapping with object, kind and operation"

    object: _Identifier("object") = Field(description="the Gainsight object name")
    kind: _Choice("destination kind", DESTINATION_KINDS) = Field(
        description=_listed(DESTINATION_KINDS)
    )
    operation: _Choice("destination operation", OPERATIONS) = Field(description=_listed(OPERATIONS))
    key: _List("key", _Identifier("key")) = ()
    compare_exclude: _List("compare_exclude", _Identifier("compare_exclude")) = ()

    @classmethod
    def checked(cls, value: dict, context: dict) -> dict:
        cls.known_keys(value, cls.what)
        cls.required(value, "destination", ("object", "kind", "operation"))
        return value

    @model_validator(mode="after")
    def _keyed(self) -> "_Destination":
        if self.operation in KEYED_OPERATIONS and not self.key:
            raise _problem(
                f"destination operation '{self.operation}' needs a key",
                "add `key: [column, ...]` naming the columns that identify a record",
                at=("operation",),
                on_key=True,
            )
        return self

    def spec(self) -> Destination:
        return Destination(
            self.object,
            self.kind,  # type: ignore[arg-type]  # checked against DESTINATION_KINDS
            self.operation,  # type: ignore[arg-type]  # checked against OPERATIONS
            self.key,
            self.compare_exclude,
        )


class _Notify(_Mapping):
    what = "'notify'"
    expected = "a mapping with on_success and on_failure lists"

    on_success: _List("on_success", _Email("on_success")) = ()
    on_failure: _List("on_failure", _Email("on_failure")) = ()


class _JobEntry(_Mapping):
    what = "a job"
    expected = "a mapping with at least 'name'"

    name: str
    model: _Identifier("model") | None = Field(None, description="the dbt model to run")
    errors_model: _Identifier("errors_model") | None = None
    extract: Annotated[_List("extract", _Resource), AfterValidator(_listed_once)] = RESOURCES
    destination: _Destination | None = Field(None, description="where rows go")
    schedule: _Schedule = None
    dependent_job: _optional_text("dependent_job") = None
    notify: _Notify | None = None
    also_builds: _List("also_builds", _Identifier("also_builds")) = ()

    @classmethod
    def checked(cls, value: dict, context: dict) -> dict:
        builtin = context["builtin"].jobs if context["builtin"] else {}
        name = _entry_name(value, "job", builtin)
        if name in builtin:
            for key in value:
                if key not in _OVERRIDE_KEYS:
                    raise _problem(
                        f"the out-of-the-box job '{name}' cannot be modified (key '{key}')",
                        f"only {_listed(_OVERRIDE_KEYS[1:])} may be set for it; "
                        "add a custom job instead",
                        at=(key,),
                        on_key=True,
                    )
        else:
            cls.known_keys(value, f"job '{name}'", builtin_only=("also_builds",))
            cls.required(value, f"job '{name}'", ("model", "destination"))
            if context["builtin"] and "also_builds" in value:
                raise _problem(
                    f"only a built-in job may set 'also_builds' (job '{name}')",
                    "give each model a job of its own",
                    at=("also_builds",),
                    on_key=True,
                )
        return {**value, "name": name}

    def spec(self, builtin: JobsConfig | None) -> JobSpec:
        notify = self.notify or _Notify()
        settings = {
            "schedule": self.schedule,
            "dependent_job": self.dependent_job,
            "notify_on_success": notify.on_success,
            "notify_on_failure": notify.on_failure,
        }
        if builtin and self.name in builtin.jobs:
            return replace(builtin.jobs[self.name], **settings)
        assert self.model is not None and self.destination is not None  # checked() required them
        return JobSpec(
            name=self.name,
            model=self.model,
            errors_model=self.errors_model,
            extract=self.extract,
            destination=self.destination.spec(),
            locked=builtin is None,
            also_builds=self.also_builds,
            **settings,
        )


class _ChainEntry(_Mapping):
    what = "a chain"
    expected = "a mapping with name and jobs"

    name: str
    jobs: _List("jobs", _Text("a job name")) = Field(description="the jobs it runs")
    schedule: _Schedule = None

    @classmethod
    def checked(cls, value: dict, context: dict) -> dict:
        cls.known_keys(value, cls.what)
        builtin = context["builtin"].chains if context["builtin"] else {}
        name = _entry_name(value, "chain", builtin)
        cls.required(value, f"chain '{name}'", ("jobs",))
        return {**value, "name": name}

    @model_validator(mode="after")
    def _not_empty(self) -> "_ChainEntry":
        if not self.jobs:
            raise _problem(f"chain '{self.name}' has no jobs", "list the jobs it runs in order")
        return self

    def spec(self) -> ChainSpec:
        return ChainSpec(self.name, self.jobs, self.schedule)


def name_slug(job_name: str) -> str:
    """`Company Value Summary` → `company_value_summary` (dbt names derived from job names)."""
    return re.sub(r"[^a-z0-9]+", "_", job_name.lower()).strip("_")


def _unique_names(what: str, same: Callable[[str], str] = str.casefold):
    """Names that `same` maps to one key count as duplicates: names differing only in case
    (people type them either way) or, for jobs, in punctuation (their dbt names would clash)."""

    def check(entries: object, info: ValidationInfo) -> object:
        document: _Document = info.context["doc"]
        seen: dict[str, tuple[int, str]] = {}
        for index, entry in enumerate(entries if isinstance(entries, list) else ()):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name.strip():
                continue
            name = name.strip()
            key = same(name)
            if key in seen:
                first_index, first_name = seen[key]
                first = document.line((info.field_name, first_index))
                if first_name.casefold() == name.casefold():
                    problem = f"duplicate {what} name '{name}' (also on line {first})"
                else:
                    problem = (
                        f"{what} names '{first_name}' (line {first}) and '{name}' give the same "
                        f"dbt name '{key}'"
                    )
                raise _problem(problem, f"give every {what} a different name", at=(index,))
            seen[key] = (index, name)
        return entries

    return BeforeValidator(check)


class _File(_Mapping):
    what = "the file"
    expected = "a mapping with 'jobs' and 'chains'"

    jobs: Annotated[_List("jobs", _JobEntry), _unique_names("job", name_slug)] = ()
    chains: Annotated[_List("chains", _ChainEntry), _unique_names("chain")] = ()


def _check_references(document: "_Document", file: _File, jobs: dict[str, JobSpec]) -> None:
    """Chains and dependent jobs name jobs that exist, and dependent jobs come to an end."""
    for index, chain in enumerate(file.chains):
        for position, job_name in enumerate(chain.jobs):
            at = ("chains", index, "jobs", position)
            if job_name not in jobs:
                raise document.error(
                    at,
                    f"chain '{chain.name}' names unknown job '{job_name}'",
                    f"use one of the jobs defined in this file: {_listed(jobs)}",
                )
            if job_name in chain.jobs[:position]:
                raise document.error(
                    at,
                    f"chain '{chain.name}' lists job '{job_name}' twice",
                    "list each job once",
                )
    entries = {entry.name: index for index, entry in enumerate(file.jobs)}
    for name, job in jobs.items():
        at = ("jobs", entries.get(name, -1), "dependent_job")
        if job.dependent_job is not None and job.dependent_job not in jobs:
            raise document.error(
                at,
                f"job '{name}' has unknown dependent_job '{job.dependent_job}'",
                f"name one of the jobs defined in this file: {_listed(jobs)}",
            )
    for name, job in jobs.items():
        path = [name]
        current = job.dependent_job
        while current is not None:
            if current == name:
                raise document.error(
                    ("jobs", entries.get(name, -1), "dependent_job"),
                    f"dependent_job links form a cycle: {' -> '.join([*path, name])}",
                    "remove one dependent_job so that the runs come to an end",
                )
            if current in path:
                break  # a cycle not through `name`: reported when the loop reaches its members
            path.append(current)
            current = jobs[current].dependent_job


# --- YAML nodes and their lines ---------------------------------------------------------


class _Document:
    """A file's YAML as plain data, with the line of every value and of every mapping key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._lines: dict[_Loc, int] = {}
        self._key_lines: dict[_Loc, int] = {}
        self._constructor = SafeConstructor()
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = None if root is None else self._plain(root, ())
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            problem = error.problem or error.context or "invalid YAML"
            raise self._error(line, f"invalid YAML ({problem})", _YAML_SYNTAX_FIX) from None
        except yaml.YAMLError as error:
            raise self._error(1, f"invalid YAML ({error})", _YAML_SYNTAX_FIX) from None

    def _plain(self, node: Node, loc: _Loc) -> object:
        self._lines[loc] = node.start_mark.line + 1
        if isinstance(node, SequenceNode):
            return [self._plain(item, (*loc, index)) for index, item in enumerate(node.value)]
        if not isinstance(node, MappingNode):
            try:
                return self._constructor.construct_object(node, deep=True)
            except ValueError as error:  # e.g. a date with month 13
                raise self._error(
                    self._lines[loc],
                    f"'{node.value}' is not a valid value ({error})",
                    "quote it to write it as text",
                ) from None
        mapping: dict[str, object] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = self._constructor.construct_object(key_node, deep=True)
            if isinstance(key, bool) or not isinstance(key, str | int | float):
                raise self._error(key_line, "a key is not text", "write it as a plain value")
            key = str(key)
            if key in mapping:
                raise self._error(
                    key_line,
                    f"key '{key}' appears twice in {_mapping_name(loc)}",
                    f"keep one (the first is on line {self._key_lines[(*loc, key)]})",
                )
            self._key_lines[(*loc, key)] = key_line
            mapping[key] = self._plain(value_node, (*loc, key))
        return mapping

    def line(self, loc: _Loc, on_key: bool = False) -> int:
        """The line of the value at `loc` (or of its key), else of the nearest value above it."""
        if on_key and loc in self._key_lines:
            return self._key_lines[loc]
        while loc not in self._lines:
            loc = loc[:-1]
        return self._lines[loc]

    def error(self, loc: _Loc, problem: str, fix: str, on_key: bool = False) -> ConfigError:
        return self._error(self.line(loc, on_key), problem, fix)

    def error_from(self, error: ValidationError) -> ConfigError:
        """The error that comes first in the file, of those pydantic found."""
        found = []
        for detail in error.errors(include_url=False):
            loc = tuple(detail["loc"])
            if detail["type"] == "goalsync":
                context = detail["ctx"]
                loc = (*loc, *context["at"])
                line = self.line(loc, context["on_key"])
                found.append((line, context["problem"], context["fix"]))
            else:  # the validators above leave none of pydantic's own checks to fail
                found.append((self.line(loc), detail["msg"], f"check {'.'.join(map(str, loc))}"))
        line, problem, fix = min(found, key=lambda item: item[0])
        return self._error(line, problem, fix)

    def _error(self, line: int, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{shown_path(self.path)} line {line}: {problem}; {fix}")


def _mapping_name(loc: _Loc) -> str:
    match loc:
        case ():
            return "the file"
        case ("jobs", int()):
            return "a job"
        case ("chains", int()):
            return "a chain"
    return f"'{loc[-1]}'"


def _known_name(name: str, known: dict[str, object], what: str, path: Path) -> str:
    if name in known:
        return name
    for candidate in known:
        if candidate.casefold() == name.strip().casefold():
            return candidate
    raise ConfigError(
        f"unknown {what} '{name}' (known: {_listed(known)}); define it in {shown_path(path)}"
    )


_BUILTIN = read_builtin_jobs()
CS_GOAL_SYNC = _BUILTIN.jobs[CS_GOAL_SYNC_NAME]
DEFAULT_CHAIN = _BUILTIN.chains[DEFAULT_CHAIN_NAME]
