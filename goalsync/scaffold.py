"""`orchestrate.py job new`: write a working custom job (dbt models and a jobs.yml entry).

The files come from the Jinja templates in `templates/job_new/`. Their delimiters are
`<< >>` and `<% %>`, so the dbt Jinja they contain (`{{ ref(...) }}`) is copied as it is.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml

from .errors import ConfigError, shown_path
from .job_kinds import COMPANY_KEY, CUSTOM_KINDS, reserved_objects
from .jobs_config import DEFAULT_JOBS_PATH, load_jobs_config, name_slug
from .paths import DBT_PROJECT_DIR
from .schemas import DESTINATION_SCHEMA, MODELS_SCHEMA

SCAFFOLD_KINDS = CUSTOM_KINDS
SCAFFOLD_OPERATIONS = ("insert", "update", "upsert")
TEMPLATES_DIR = Path(__file__).parent / "templates" / "job_new"


@dataclass(frozen=True)
class _Source:
    """A record type a job can start from, joined to its document for the company lookup."""

    imports: tuple[tuple[str, str], ...]  # (CTE name, dbt model), the source first
    joins: str  # from the source to live_documents (which carries the CRM account id)
    key: str
    fields: tuple[tuple[str, str], ...]  # (column, data type) copied by direct mapping


@dataclass(frozen=True)
class _Column:
    """A column of the job's output model."""

    expression: str  # what the output model selects
    name: str
    data_type: str

    @property
    def description(self) -> str:
        return _DESCRIPTIONS.get(self.name, f"{self.name}.")


@dataclass(frozen=True)
class ScaffoldedJob:
    job_name: str
    model: str
    files: tuple[Path, ...]
    jobs_path: Path


def _document_join(child: str) -> str:
    return f"inner join live_documents\n        on live_documents.document_id = {child}.document_id"


_LIVE_DOCUMENTS = ("live_documents", "int_documents__live")
_LIVE_VALUE_DRIVERS = ("live_value_drivers", "int_value_drivers__live")
SOURCES: dict[str, _Source] = {
    "documents": _Source(
        imports=(_LIVE_DOCUMENTS,),
        joins="",
        key="document_id",
        fields=(
            ("document_id", "varchar"),
            ("document_name", "varchar"),
            ("created_at", "timestamp"),
        ),
    ),
    "value_drivers": _Source(
        imports=(_LIVE_VALUE_DRIVERS, _LIVE_DOCUMENTS),
        joins=_document_join("live_value_drivers"),
        key="value_driver_id",
        fields=(
            ("value_driver_id", "varchar"),
            ("value_driver_name", "varchar"),
            ("total_benefit", "double"),
        ),
    ),
    "kpis": _Source(
        imports=(("live_kpis", "int_kpis__live"), _LIVE_VALUE_DRIVERS, _LIVE_DOCUMENTS),
        joins="inner join live_value_drivers\n"
        "        on live_value_drivers.value_driver_id = live_kpis.value_driver_id\n\n    "
        + _document_join("live_value_drivers"),
        key="kpi_id",
        fields=(("kpi_id", "varchar"), ("kpi_name", "varchar"), ("kpi_target", "double")),
    ),
    "customer_goals": _Source(
        imports=(("customer_goals", "customer_goals"), _LIVE_DOCUMENTS),
        joins=_document_join("customer_goals"),
        key="goal_key",
        fields=(("goal_key", "varchar"), ("kpi_name", "varchar"), ("kpi_actuals", "double")),
    ),
}
_DESCRIPTIONS = {
    COMPANY_KEY: "Gainsight Company gsid (derived mapping), joinable to gainsight.company."
}


def model_name_for(job_name: str) -> str:
    """The job's model name; it must start with a letter."""
    name = name_slug(job_name)
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise ConfigError(
            f"cannot derive a dbt model name from job name '{job_name}': "
            "start the name with a letter (a-z)"
        )
    return name


def scaffold_job(
    name: str,
    source: str,
    destination: str,
    kind: str = "custom",
    operation: str = "upsert",
    key: str | None = None,
    *,
    jobs_path: Path | None = None,
    dbt_project_dir: Path | None = None,
) -> ScaffoldedJob:
    """Write a working custom job the user then edits: its dbt models and its jobs.yml entry."""
    jobs_path = jobs_path or DEFAULT_JOBS_PATH
    dbt_project_dir = dbt_project_dir or DBT_PROJECT_DIR
    name = name.strip()
    config = load_jobs_config(jobs_path)
    for existing in config.jobs:
        if existing.casefold() == name.casefold():
            raise ConfigError(
                f"job '{existing}' already exists in {shown_path(jobs_path)}; choose another name"
            )
    if source not in SOURCES or kind not in SCAFFOLD_KINDS or operation not in SCAFFOLD_OPERATIONS:
        raise ConfigError(
            f"use --source {'|'.join(SOURCES)}, --kind {'|'.join(SCAFFOLD_KINDS)}, "
            f"--operation {'|'.join(SCAFFOLD_OPERATIONS)}"
        )
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", destination):
        raise ConfigError(
            f"destination '{destination}' is not a valid object name: use letters, digits "
            "and underscores, starting with a letter"
        )
    owner = reserved_objects(config).get(destination)
    if owner:
        raise ConfigError(
            f"{DESTINATION_SCHEMA}.{destination} belongs to {owner}; choose another destination"
        )
    model = model_name_for(name)
    spec = SOURCES[source]
    key = _scaffold_key(spec, kind, key)
    models_dir = dbt_project_dir / "models"
    for taken in (f"{model}__mapped", model, f"{model}_errors"):
        if any(models_dir.rglob(f"{taken}.sql")):
            raise ConfigError(
                f"a dbt model named '{taken}' already exists in {shown_path(models_dir)}; "
                "choose another job name"
            )
    columns = _output_columns(spec, kind, source)
    fields = [column for column, _ in spec.fields]
    texts = {
        f"{model}__mapped.sql": _render(
            "mapped.sql.j2",
            imports=spec.imports,
            source=spec.imports[0][0],
            fields=fields,
            joins=spec.joins,
        ),
        f"{model}.sql": _render("output.sql.j2", model=model, columns=columns, kind=kind),
        f"{model}_errors.sql": _render(
            "errors.sql.j2", model=model, fields=fields, record_key=spec.key
        ),
        f"{model}.yml": _render(
            "properties.yml.j2",
            job=name,
            model=model,
            destination=destination,
            schema=MODELS_SCHEMA,
            columns=columns,
            key=key,
            record_key=spec.key,
        ),
    }
    entry = _jobs_entry(name, model, destination, kind, operation, key)
    files = tuple(models_dir / "custom" / file_name for file_name in texts)
    previous = jobs_path.read_text(encoding="utf-8") if jobs_path.exists() else None
    try:
        files[0].parent.mkdir(parents=True, exist_ok=True)
        for path, text in zip(files, texts.values(), strict=True):
            path.write_text(text, encoding="utf-8")
        jobs_path.write_text(_with_job_entry(previous or "", entry), encoding="utf-8")
        load_jobs_config(jobs_path)
    except (ConfigError, OSError) as error:
        for path in files:
            path.unlink(missing_ok=True)
        if previous is None:
            jobs_path.unlink(missing_ok=True)
        else:
            jobs_path.write_text(previous, encoding="utf-8")
        raise ConfigError(
            f"could not add job '{name}', nothing was changed ({error}); add it under `jobs:` "
            f"in {shown_path(jobs_path)} by hand: {' '.join(entry.split())}"
        ) from None
    return ScaffoldedJob(name, model, files, jobs_path)


def _scaffold_key(spec: _Source, kind: str, key: str | None) -> str:
    if kind == "company":
        if key not in (None, COMPANY_KEY):
            raise ConfigError(f"a company destination is keyed by {COMPANY_KEY}; leave out --key")
        return COMPANY_KEY
    choices = [column for column, _ in spec.fields] + [COMPANY_KEY]
    key = key or spec.key
    if key not in choices:
        raise ConfigError(
            f"--key {key} is not a column of the scaffolded model; use one of "
            f"{', '.join(choices)} (change it in jobs.yml once you have edited the model)"
        )
    return key


def _output_columns(spec: _Source, kind: str, source: str) -> list[_Column]:
    if kind == "company":
        return [
            _Column("company_gsid", COMPANY_KEY, "varchar"),
            _Column("count(*)", source, "bigint"),
        ]
    direct = [_Column(f"cast({column} as {type_})", column, type_) for column, type_ in spec.fields]
    return [*direct, _Column("company_gsid", COMPANY_KEY, "varchar")]


def _yaml_text(value: str) -> str:
    """A double-quoted YAML scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _yaml_scalar(value: str) -> str:
    plain = re.match(r"^[A-Za-z][A-Za-z0-9 _.()-]*$", value) and yaml.safe_load(value) == value
    return value if plain else _yaml_text(value)


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    block_start_string="<%",
    block_end_string="%>",
    variable_start_string="<<",
    variable_end_string=">>",
    comment_start_string="<#",
    comment_end_string="#>",
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)
_TEMPLATES.filters.update(yaml_text=_yaml_text, yaml_scalar=_yaml_scalar)


def _render(template: str, **values: object) -> str:
    return _TEMPLATES.get_template(template).render(**values)


def _jobs_entry(
    name: str, model: str, destination: str, kind: str, operation: str, key: str
) -> str:
    return _render(
        "jobs_entry.yml.j2",
        name=name,
        model=model,
        destination=destination,
        kind=kind,
        operation=operation,
        key=key,
    )


def _with_job_entry(text: str, entry: str) -> str:
    """jobs.yml text with the entry added at the end of its `jobs:` list, all else kept."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if re.match(r"^jobs:\s*(#.*)?$", line)), None)
    if start is None:
        return "".join(lines) + "jobs:\n" + entry
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"^[^\s#-]", lines[i])), len(lines)
    )
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1  # comments just above the next key belong to it
    items = [line for line in lines[start + 1 : end] if re.match(r"^\s*- ", line)]
    indent = re.match(r"^(\s*)- ", items[0]).group(1) if items else "  "
    entry = "".join(indent + line[2:] for line in entry.splitlines(keepends=True))
    separator = "\n" if items and lines[end - 1].strip() else ""
    return "".join(lines[:end]) + separator + entry + "".join(lines[end:])
