"""What the engine does differently per kind of job, behind one small interface.

`DbtOwnedKind`: CS Goal Sync; dbt builds its object (a mart) and everything upstream.
`ObjectWritingKind`: custom and company jobs; dbt builds the job's own models, checks their
rows and merges them into `gainsight.<object>` (models/destinations/, from jobs.yml).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from .jobs_config import JobsConfig, JobSpec, name_slug
from .paths import PROJECT_ROOT
from .schemas import DESTINATION_SCHEMA, MODELS_SCHEMA

CUSTOM_KINDS = ("custom", "company")
COMPANY_KEY = "company_gsid"
COMPANY_RELATION = f"{DESTINATION_SCHEMA}.company"
SEEDS_DIR = PROJECT_ROOT / "seeds"
DESTINATIONS_FOLDER = Path("models") / "destinations"
CHECKS_FOLDER = Path("tests") / "destinations"
JOB_ENV = "GOALSYNC_JOB"


class DestinationError(Exception):
    """The job's rows cannot be written to its object; the message is the one-line reason."""


@dataclass(frozen=True)
class DbtSelection:
    select: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """A data test of a job's output: the macro call, and the run's message when rows fail it."""

    sql: str
    failure_message: str


@dataclass(frozen=True)
class DbtOwnedKind:
    """dbt builds the job's models and all they read; the destination is one of them."""

    job: JobSpec

    errors_schema = DESTINATION_SCHEMA

    def check(self, config: JobsConfig, project_dir: Path) -> None:
        """Nothing to check: its definition is built in."""

    def _models(self) -> tuple[str, ...]:
        models = (self.job.model, self.job.errors_model, *self.job.also_builds)
        return tuple(model for model in models if model)

    def reserved_objects(self) -> tuple[str, ...]:
        return self._models()

    def selection(self, config: JobsConfig) -> DbtSelection:
        return DbtSelection(tuple(f"+{model}" for model in self._models()))

    def environment(self) -> dict[str, str]:
        return {}

    def outputs(self) -> list[tuple[str, str]]:
        """The relations a run reads after the transform: (schema, name)."""
        outputs = [(DESTINATION_SCHEMA, self.job.destination.object_name)]
        if self.job.errors_model:
            outputs.append((self.errors_schema, self.job.errors_model))
        return outputs

    def rebuilt_after(self, config: JobsConfig) -> tuple[str, ...]:
        """Jobs whose newer build makes this job's build stale: none, it builds what it reads."""
        return ()

    def explain_build_failure(self, message: str) -> str:
        return message


@dataclass(frozen=True)
class ObjectWritingKind:
    """dbt builds the job's own models, checks the rows and merges them into the object."""

    job: JobSpec

    errors_schema = MODELS_SCHEMA

    def check(self, config: JobsConfig, project_dir: Path) -> None:
        """What must hold before its destination model can exist at all."""
        destination = self.job.destination
        owner = reserved_objects(config).get(destination.object_name)
        if owner:
            raise DestinationError(
                f"{DESTINATION_SCHEMA}.{destination.object_name} belongs to {owner}: "
                "give the job's destination another object name in jobs.yml"
            )
        if not destination.key:
            raise DestinationError(
                "a custom job's destination needs a key (its gsid is derived from it): "
                "add `key: [column, ...]` to the destination in jobs.yml"
            )
        if destination.kind == "company" and destination.key != (COMPANY_KEY,):
            raise DestinationError(
                f"a company destination has one row per company, keyed by {COMPANY_KEY}: "
                f"set `key: [{COMPANY_KEY}]` in jobs.yml"
            )
        for model in (self.job.model, self.job.errors_model):
            if model and not _has_model(project_dir, model):
                raise DestinationError(
                    f"model '{model}' (jobs.yml) is not in {project_dir.name}/models: "
                    "add its .sql file or fix the name"
                )

    def reserved_objects(self) -> tuple[str, ...]:
        return ()

    @property
    def destination_model(self) -> str:
        return destination_model(self.job.destination.object_name)

    def checks(self) -> dict[str, "Check"]:
        """The job's data tests on its output, by name (tests/destinations/<name>.sql)."""
        model, key = self.job.model, list(self.job.destination.key)
        keys = ", ".join(key)
        output = f"ref({json.dumps(model)})"
        checks = {
            "null_key": Check(
                f"destination_null_keys({output}, {json.dumps(key)})",
                f"model '{model}' returns {{failures}} rows with a null key ({keys}); "
                "filter them out or fix the mapping",
            ),
            "repeated_key": Check(
                f"destination_repeated_keys({output}, {json.dumps(key)})",
                f"model '{model}' returns {{failures}} keys ({keys}) more than once; "
                "the key must identify one row",
            ),
        }
        if self.job.destination.kind == "company":
            checks["unknown_company"] = Check(
                f"destination_unknown_companies({output}, {json.dumps(COMPANY_KEY)}, "
                f"{json.dumps(COMPANY_RELATION)})",
                f"model '{model}' returns {{failures}} rows whose {COMPANY_KEY} is not in "
                f"{COMPANY_RELATION}; map companies with derived_lookup",
            )
        if self.job.errors_model:
            checks["errors_model"] = Check(
                f"destination_errors_model(ref({json.dumps(self.job.errors_model)}))", ""
            )
        return {
            f"check_{name_slug(self.job.name)}__{name}": check for name, check in checks.items()
        }

    def selection(self, config: JobsConfig) -> DbtSelection:
        """Only the job's own models and checks: what they read is built by the job that owns it.

        `+model` would also rebuild customer_goals when a custom model reads it, changing
        that table outside CS Goal Sync's runs (and its counts). The checks of other jobs on
        the same models are theirs (another key, another operation).
        """
        models = (self.job.model, self.job.errors_model, self.destination_model)
        others = [
            name
            for other in config.jobs.values()
            if other.name != self.job.name and isinstance(kind_for(other), ObjectWritingKind)
            for name in ObjectWritingKind(other).checks()
        ]
        select = tuple(model for model in models if model) + tuple(self.checks())
        return DbtSelection(select, tuple(others))

    def environment(self) -> dict[str, str]:
        return {JOB_ENV: self.job.name}

    def outputs(self) -> list[tuple[str, str]]:
        outputs = [
            (DESTINATION_SCHEMA, self.job.destination.object_name),
            (MODELS_SCHEMA, self.job.model),
        ]
        if self.job.errors_model:
            outputs.append((MODELS_SCHEMA, self.job.errors_model))
        return outputs

    def rebuilt_after(self, config: JobsConfig) -> tuple[str, ...]:
        """Its models read what dbt-owned jobs build, and other jobs write its object."""
        return tuple(
            other.name
            for other in config.jobs.values()
            if other.name != self.job.name
            and (
                isinstance(kind_for(other), DbtOwnedKind)
                or other.destination.object_name == self.job.destination.object_name
            )
        )

    def explain_build_failure(self, message: str) -> str:
        """A custom job reads models that CS Goal Sync builds: say so when one is missing."""
        if "does not exist" in message:
            return f"{message} (custom jobs read what CS Goal Sync builds: run it first)"
        return message


JobKind = DbtOwnedKind | ObjectWritingKind


def kind_for(job: JobSpec) -> JobKind:
    if job.destination.kind in CUSTOM_KINDS:
        return ObjectWritingKind(job)
    return DbtOwnedKind(job)


def destination_model(object_name: str) -> str:
    """The dbt model of `gainsight.<object>` (its alias): model names must differ from it."""
    return f"gainsight__{object_name}"


def reserved_objects(config: JobsConfig, seeds_dir: Path = SEEDS_DIR) -> dict[str, str]:
    """Gainsight-side tables a custom job must not write, with who owns each."""
    owners = {path.stem: "a Gainsight reference seed" for path in seeds_dir.glob("*.csv")}
    for job in config.jobs.values():
        for model in kind_for(job).reserved_objects():
            owners[model] = f"job '{job.name}'"
    return owners


def _has_model(project_dir: Path, model: str) -> bool:
    models = project_dir / "models"
    generated = project_dir / DESTINATIONS_FOLDER
    return any(generated not in path.parents for path in models.rglob(f"{model}.sql"))
