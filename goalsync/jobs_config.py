"""Jobs and chains as data: `jobs.yml`, validated into frozen dataclasses on load."""

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from croniter import CroniterError, croniter
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from extract.ecosystems.settings import ENDPOINTS_BY_NAME

from .errors import ConfigError, shown_path
from .paths import PROJECT_ROOT

DEFAULT_JOBS_PATH = PROJECT_ROOT / "jobs.yml"
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


@dataclass(frozen=True)
class ChainSpec:
    name: str
    jobs: tuple[str, ...]
    schedule: str | None = None


CS_GOAL_SYNC_NAME = "CS Goal Sync"
DEFAULT_CHAIN_NAME = CS_GOAL_SYNC_NAME
CS_GOAL_SYNC = JobSpec(
    name=CS_GOAL_SYNC_NAME,
    model="customer_goals",
    errors_model="customer_goals_errors",
    extract=RESOURCES,
    destination=Destination(
        object_name="customer_goals",
        kind="standard",
        operation="replace",
        key=("goal_key",),
        compare_exclude=("gsid",),
    ),
    locked=True,
)
DEFAULT_CHAIN = ChainSpec(name=DEFAULT_CHAIN_NAME, jobs=(CS_GOAL_SYNC_NAME,))


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


def load_jobs_config(path: Path = DEFAULT_JOBS_PATH) -> JobsConfig:
    """Read and validate `jobs.yml`; a missing or empty file gives the out-of-the-box defaults."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _defaults(path)
    except OSError as error:
        raise ConfigError(f"{shown_path(path)}: cannot read it ({error.strerror})") from None
    return _Parser(path).parse(text)


def _defaults(path: Path) -> JobsConfig:
    return JobsConfig(
        jobs={CS_GOAL_SYNC_NAME: CS_GOAL_SYNC},
        chains={DEFAULT_CHAIN_NAME: DEFAULT_CHAIN},
        path=path,
    )


_TOP_LEVEL_KEYS = ("jobs", "chains")
_OOB_KEYS = ("name", "schedule", "dependent_job", "notify")
_JOB_KEYS = ("name", "model", "errors_model", "extract", "destination", *_OOB_KEYS[1:])
_DESTINATION_KEYS = ("object", "kind", "operation", "key", "compare_exclude")
_NOTIFY_KEYS = ("on_success", "on_failure")
_CHAIN_KEYS = ("name", "jobs", "schedule")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")
_NAME_MAX_LENGTH = 100
_CRON_PROBE_START = datetime(2026, 1, 1, tzinfo=UTC)
_YAML_SYNTAX_FIX = "fix the YAML syntax (indent with spaces; quote values containing ': ' or '#')"


class _Parser:
    """Walks the composed YAML nodes, so every error can name its line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._constructor = SafeConstructor()
        self._dependent_lines: dict[str, int] = {}

    def parse(self, text: str) -> JobsConfig:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            problem = error.problem or error.context or "invalid YAML"
            raise self.error(line, f"invalid YAML ({problem})", _YAML_SYNTAX_FIX) from None
        except yaml.YAMLError as error:
            raise self.error(1, f"invalid YAML ({error})", _YAML_SYNTAX_FIX) from None
        if root is None or _is_null(root):
            return _defaults(self.path)
        top = self.mapping(root, "the file", _TOP_LEVEL_KEYS, "a mapping with 'jobs' and 'chains'")
        jobs = self.jobs(top.get("jobs"))
        chains = self.chains(top.get("chains"), jobs)
        self.check_dependencies(jobs)
        return JobsConfig(
            jobs={name: job for name, (job, _) in jobs.items()}, chains=chains, path=self.path
        )

    # --- jobs -----------------------------------------------------------------------------

    def jobs(self, node: tuple[ScalarNode, Node] | None) -> dict[str, tuple[JobSpec, int]]:
        jobs: dict[str, tuple[JobSpec, int]] = {}
        entries = self.sequence(node[1], "'jobs'", allow_null=True) if node else []
        for entry in entries:
            fields = self.mapping(entry, "a job", None, "a mapping with at least 'name'")
            name = self.name(fields, entry, "job")
            self.unique(name, entry, jobs, "job", CS_GOAL_SYNC_NAME)
            if "dependent_job" in fields:
                self._dependent_lines[name] = _line(fields["dependent_job"][1])
            if name == CS_GOAL_SYNC_NAME:
                jobs[name] = (self.oob_job(fields), _line(entry))
            else:
                jobs[name] = (self.custom_job(name, fields, entry), _line(entry))
        if CS_GOAL_SYNC_NAME not in jobs:
            jobs = {CS_GOAL_SYNC_NAME: (CS_GOAL_SYNC, 0), **jobs}
        return jobs

    def oob_job(self, fields: dict[str, tuple[ScalarNode, Node]]) -> JobSpec:
        for key, (key_node, _) in fields.items():
            if key not in _OOB_KEYS:
                raise self.error(
                    _line(key_node),
                    f"the out-of-the-box job '{CS_GOAL_SYNC_NAME}' cannot be modified "
                    f"(key '{key}')",
                    f"only {_listed(_OOB_KEYS[1:])} may be set for it; add a custom job instead",
                )
        on_success, on_failure = self.notify(fields.get("notify"))
        return replace(
            CS_GOAL_SYNC,
            schedule=self.schedule(fields.get("schedule")),
            dependent_job=self.optional_text(fields.get("dependent_job"), "dependent_job"),
            notify_on_success=on_success,
            notify_on_failure=on_failure,
        )

    def custom_job(
        self, name: str, fields: dict[str, tuple[ScalarNode, Node]], entry: MappingNode
    ) -> JobSpec:
        self.known_keys(fields, _JOB_KEYS, f"job '{name}'")
        model = self.required(fields, "model", entry, f"job '{name}'", "the dbt model to run")
        errors_model = fields.get("errors_model")
        on_success, on_failure = self.notify(fields.get("notify"))
        return JobSpec(
            name=name,
            model=self.identifier(model, "model"),
            errors_model=self.identifier(errors_model, "errors_model") if errors_model else None,
            extract=self.extract(fields.get("extract")),
            destination=self.destination(
                self.required(fields, "destination", entry, f"job '{name}'", "where rows go")
            ),
            schedule=self.schedule(fields.get("schedule")),
            dependent_job=self.optional_text(fields.get("dependent_job"), "dependent_job"),
            notify_on_success=on_success,
            notify_on_failure=on_failure,
        )

    def extract(self, field: tuple[ScalarNode, Node] | None) -> tuple[str, ...]:
        if field is None:
            return RESOURCES
        resources: list[str] = []
        for node in self.sequence(field[1], "'extract'", allow_null=True):
            resource = self.text(node, "an extract resource")
            if resource not in RESOURCES:
                raise self.error(
                    _line(node),
                    f"unknown extract resource '{resource}'",
                    f"use any of {_listed(RESOURCES)}",
                )
            if resource in resources:
                raise self.error(_line(node), f"extract lists '{resource}' twice", "list it once")
            resources.append(resource)
        return tuple(resources)

    def destination(self, field: tuple[ScalarNode, Node]) -> Destination:
        node = field[1]
        fields = self.mapping(
            node, "'destination'", _DESTINATION_KEYS, "a mapping with object, kind and operation"
        )
        where = "destination"
        object_name = self.identifier(
            self.required(fields, "object", node, where, "the Gainsight object name"), "object"
        )
        kind = self.choice(
            self.required(fields, "kind", node, where, _listed(DESTINATION_KINDS)),
            "destination kind",
            DESTINATION_KINDS,
        )
        operation_field = self.required(fields, "operation", node, where, _listed(OPERATIONS))
        operation = self.choice(operation_field, "destination operation", OPERATIONS)
        key = self.identifiers(fields.get("key"), "key")
        if operation in KEYED_OPERATIONS and not key:
            raise self.error(
                _line(operation_field[0]),
                f"destination operation '{operation}' needs a key",
                "add `key: [column, ...]` naming the columns that identify a record",
            )
        return Destination(
            object_name=object_name,
            kind=kind,  # type: ignore[arg-type]  # checked against DESTINATION_KINDS
            operation=operation,  # type: ignore[arg-type]  # checked against OPERATIONS
            key=key,
            compare_exclude=self.identifiers(fields.get("compare_exclude"), "compare_exclude"),
        )

    def notify(self, field: tuple[ScalarNode, Node] | None) -> tuple[tuple[str, ...], ...]:
        if field is None or _is_null(field[1]):
            return (), ()
        fields = self.mapping(
            field[1], "'notify'", _NOTIFY_KEYS, "a mapping with on_success and on_failure lists"
        )
        lists = []
        for key in _NOTIFY_KEYS:
            addresses = []
            if key in fields:
                for node in self.sequence(fields[key][1], f"'{key}'", allow_null=True):
                    address = self.text(node, "an email address")
                    if not _EMAIL.match(address):
                        raise self.error(
                            _line(node),
                            f"'{address}' in notify.{key} is not an email address",
                            "write one address per item, like name@example.com",
                        )
                    addresses.append(address)
            lists.append(tuple(addresses))
        return tuple(lists)

    # --- chains ---------------------------------------------------------------------------

    def chains(
        self, node: tuple[ScalarNode, Node] | None, jobs: dict[str, tuple[JobSpec, int]]
    ) -> dict[str, ChainSpec]:
        chains: dict[str, tuple[ChainSpec, int]] = {}
        for entry in self.sequence(node[1], "'chains'", allow_null=True) if node else []:
            fields = self.mapping(entry, "a chain", _CHAIN_KEYS, "a mapping with name and jobs")
            name = self.name(fields, entry, "chain")
            self.unique(name, entry, chains, "chain", DEFAULT_CHAIN_NAME)
            job_nodes = self.sequence(
                self.required(fields, "jobs", entry, f"chain '{name}'", "the jobs it runs")[1],
                "'jobs'",
            )
            if not job_nodes:
                raise self.error(
                    _line(entry), f"chain '{name}' has no jobs", "list the jobs it runs in order"
                )
            members: list[str] = []
            for job_node in job_nodes:
                job_name = self.text(job_node, "a job name")
                if job_name not in jobs:
                    raise self.error(
                        _line(job_node),
                        f"chain '{name}' names unknown job '{job_name}'",
                        f"use one of the jobs defined in this file: {_listed(jobs)}",
                    )
                if job_name in members:
                    raise self.error(
                        _line(job_node),
                        f"chain '{name}' lists job '{job_name}' twice",
                        "list each job once",
                    )
                members.append(job_name)
            chain = ChainSpec(name, tuple(members), self.schedule(fields.get("schedule")))
            chains[name] = (chain, _line(entry))
        if DEFAULT_CHAIN_NAME not in chains:
            chains = {DEFAULT_CHAIN_NAME: (DEFAULT_CHAIN, 0), **chains}
        return {name: chain for name, (chain, _) in chains.items()}

    def check_dependencies(self, jobs: dict[str, tuple[JobSpec, int]]) -> None:
        for name, (job, _) in jobs.items():
            if job.dependent_job is None:
                continue
            line = self._dependent_lines[name]
            if job.dependent_job not in jobs:
                raise self.error(
                    line,
                    f"job '{name}' has unknown dependent_job '{job.dependent_job}'",
                    f"name one of the jobs defined in this file: {_listed(jobs)}",
                )
        for name in jobs:
            path = [name]
            current = jobs[name][0].dependent_job
            while current is not None:
                if current == name:
                    raise self.error(
                        self._dependent_lines[name],
                        f"dependent_job links form a cycle: {' -> '.join([*path, name])}",
                        "remove one dependent_job so that the runs come to an end",
                    )
                if current in path:
                    break  # a cycle not through `name`: reported when the loop reaches its members
                path.append(current)
                current = jobs[current][0].dependent_job

    # --- scalars and structure ------------------------------------------------------------

    def schedule(self, field: tuple[ScalarNode, Node] | None) -> str | None:
        expression = self.optional_text(field, "schedule")
        if expression is None:
            return None
        assert field is not None
        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            raise self.error(
                _line(field[1]),
                f"schedule '{expression}' is not a valid 5-field cron expression",
                'use minute hour day-of-month month day-of-week in UTC, e.g. "0 7 * * *"',
            )
        try:
            croniter(expression, _CRON_PROBE_START).get_next(datetime)
        except CroniterError:
            raise self.error(
                _line(field[1]),
                f"schedule '{expression}' never fires (no such date)",
                "check the day-of-month and month fields",
            ) from None
        return " ".join(expression.split())

    def name(self, fields: dict[str, tuple[ScalarNode, Node]], entry: Node, what: str) -> str:
        field = fields.get("name")
        if field is None or _is_null(field[1]):
            raise self.error(
                _line(entry), f"a {what} has no name", f"add `name: ...` to the {what}"
            )
        name = self.text(field[1], f"a {what} name").strip()
        if not name or "\n" in name or len(name) > _NAME_MAX_LENGTH:
            raise self.error(
                _line(field[1]),
                f"{what} name {name!r} is not valid",
                f"use one line of 1 to {_NAME_MAX_LENGTH} characters",
            )
        return name

    def unique(
        self, name: str, entry: Node, seen: dict[str, tuple[object, int]], what: str, builtin: str
    ) -> None:
        """Names differing only in case count as duplicates: people type them either way."""
        for other, (_, line) in seen.items():
            if other.casefold() == name.casefold():
                raise self.error(
                    _line(entry),
                    f"duplicate {what} name '{name}' (also on line {line})",
                    f"give every {what} a different name",
                )
        if name != builtin and name.casefold() == builtin.casefold():
            raise self.error(
                _line(entry),
                f"{what} name '{name}' differs only in case from the built-in {what} '{builtin}'",
                f"write '{builtin}' exactly, or choose another name",
            )

    def required(
        self,
        fields: dict[str, tuple[ScalarNode, Node]],
        key: str,
        entry: Node,
        where: str,
        meaning: str,
    ) -> tuple[ScalarNode, Node]:
        field = fields.get(key)
        if field is None or _is_null(field[1]):
            raise self.error(_line(entry), f"{where} has no '{key}'", f"add `{key}:` ({meaning})")
        return field

    def known_keys(self, fields: dict[str, tuple[ScalarNode, Node]], allowed, where: str) -> None:
        for key, (key_node, _) in fields.items():
            if key not in allowed:
                raise self.error(
                    _line(key_node), f"unknown key '{key}' in {where}", f"use {_listed(allowed)}"
                )

    def mapping(
        self, node: Node, what: str, allowed: tuple[str, ...] | None, expected: str
    ) -> dict[str, tuple[ScalarNode, Node]]:
        if not isinstance(node, MappingNode):
            raise self.error(_line(node), f"{what} is not a mapping", f"write {expected}")
        fields: dict[str, tuple[ScalarNode, Node]] = {}
        for key_node, value_node in node.value:
            key = self.text(key_node, "a key")
            if key in fields:
                raise self.error(
                    _line(key_node),
                    f"key '{key}' appears twice in {what}",
                    f"keep one (the first is on line {_line(fields[key][0])})",
                )
            fields[key] = (key_node, value_node)
        if allowed is not None:
            self.known_keys(fields, allowed, what)
        return fields

    def sequence(self, node: Node, what: str, allow_null: bool = False) -> list[Node]:
        if allow_null and _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(_line(node), f"{what} is not a list", "write a YAML list: [a, b]")
        return list(node.value)

    def text(self, node: Node, what: str) -> str:
        value = self._constructor.construct_object(node, deep=True)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.error(_line(node), f"{what} is not text", "write it as a plain value")
        return str(value)

    def optional_text(self, field: tuple[ScalarNode, Node] | None, key: str) -> str | None:
        if field is None or _is_null(field[1]):
            return None
        return self.text(field[1], f"'{key}'").strip() or None

    def identifier(self, field: tuple[ScalarNode, Node], key: str) -> str:
        value = self.text(field[1], f"'{key}'")
        if not _IDENTIFIER.match(value):
            raise self.error(
                _line(field[1]),
                f"{key} '{value}' is not a valid name",
                "use letters, digits and underscores, starting with a letter",
            )
        return value

    def identifiers(self, field: tuple[ScalarNode, Node] | None, key: str) -> tuple[str, ...]:
        if field is None:
            return ()
        nodes = self.sequence(field[1], f"'{key}'", allow_null=True)
        return tuple(self.identifier((field[0], node), key) for node in nodes)

    def choice(self, field: tuple[ScalarNode, Node], what: str, choices: tuple[str, ...]) -> str:
        value = self.text(field[1], what)
        if value not in choices:
            raise self.error(
                _line(field[1]), f"{what} '{value}' is not valid", f"use one of {_listed(choices)}"
            )
        return value

    def error(self, line: int, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{shown_path(self.path)} line {line}: {problem}; {fix}")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _listed(names) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _known_name(name: str, known: dict[str, object], what: str, path: Path) -> str:
    if name in known:
        return name
    for candidate in known:
        if candidate.casefold() == name.strip().casefold():
            return candidate
    raise ConfigError(
        f"unknown {what} '{name}' (known: {_listed(known)}); define it in {shown_path(path)}"
    )
