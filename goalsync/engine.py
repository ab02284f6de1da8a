"""Runs jobs and chains: extract, transform, count changes, record activity.

The engine knows jobs only as data (what to extract, which dbt model, which destination);
it knows nothing of Ecosystems fields or Gainsight objects.
"""

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import activity, build_state
from . import dbt as dbt_runner
from .activity import ObjectCounts, RunOutcome
from .clock import utc_now
from .connection import Connection
from .dbt import RUN_ID_ENV, run_dbt
from .destinations import write_destinations
from .disk import disk_full, disk_full_reason, disk_reserve
from .errors import ConfigError
from .extraction import ExtractionError, ExtractionResult, run_extraction
from .job_kinds import DestinationError, JobKind, kind_for
from .jobs_config import ChainSpec, JobsConfig, JobSpec
from .paths import snapshot_path
from .row_changes import ComparedTable, count_changes, snapshot_destination
from .schemas import DESTINATION_SCHEMA
from .stops import RunStopped, recorded_if_forced, stop_received
from .warehouses import connect, table_exists


class Reporter(Protocol):
    """Where the engine says what it is doing (the CLI prints it; tests may ignore it)."""

    def stage(self, job_name: str, stage: str) -> None: ...

    def extraction_progress(self, resource: str, pages: int, rows: int) -> None: ...

    def model_finished(self, model: str, status: str) -> None: ...


class SilentReporter:
    def stage(self, job_name: str, stage: str) -> None:
        pass

    def extraction_progress(self, resource: str, pages: int, rows: int) -> None:
        pass

    def model_finished(self, model: str, status: str) -> None:
        pass


@dataclass
class JobRunResult:
    run_id: int
    job_name: str
    status: str
    message: str = ""
    outcome: RunOutcome | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("Failed", "Skipped")


class JobFailed(Exception):
    """A job stage failed; the message is the run's one-line reason."""


@dataclass
class Engine:
    database: Path
    config: JobsConfig
    source: Connection
    reporter: Reporter = field(default_factory=SilentReporter)
    source_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        with connect(self.database) as connection:
            activity.ensure_activity_tables(connection)
            activity.close_interrupted_runs(connection)

    def run_chain(self, chain_name: str, trigger: str = "manual") -> list[JobRunResult]:
        """Run the chain's jobs in order; after a failure the rest are recorded as Skipped."""
        chain = self.config.chain(chain_name)
        results: list[JobRunResult] = []
        failed_job: str | None = None
        for job_name in chain.jobs:
            if failed_job is not None:
                reason = f"skipped: '{failed_job}' failed earlier in chain '{chain.name}'"
                results.append(self._record_skipped(job_name, chain.name, trigger, reason))
                continue
            results.extend(self._run_with_dependents(job_name, chain, trigger))
            if results[-1].failed:
                failed_job = results[-1].job_name
        return results

    def run_job(self, job_name: str, trigger: str = "manual") -> list[JobRunResult]:
        """Run one job (and the job that depends on it, when it succeeds)."""
        return self._run_with_dependents(job_name, None, trigger)

    def _run_with_dependents(
        self, job_name: str, chain: ChainSpec | None, trigger: str
    ) -> list[JobRunResult]:
        job = self.config.job(job_name)
        chain_name = chain.name if chain else None
        results = [self._run_one(job, chain_name, trigger)]
        dependent = job.dependent_job
        if dependent and not (chain and dependent in chain.jobs):
            if results[-1].failed:
                reason = f"skipped: the job it depends on, '{job.name}', failed"
                results.append(self._record_skipped(dependent, chain_name, "chain", reason))
            else:
                results.extend(self._run_with_dependents(dependent, chain, "chain"))
        return results

    def _record_skipped(
        self, job_name: str, chain_name: str | None, trigger: str, reason: str
    ) -> JobRunResult:
        with connect(self.database) as connection:
            run_id = activity.start_run(
                connection, job_name, chain_name, trigger, status="Skipped", message=reason
            )
        return JobRunResult(run_id, job_name, "Skipped", reason)

    def _run_one(self, job: JobSpec, chain_name: str | None, trigger: str) -> JobRunResult:
        with disk_reserve(self.database) as reserve:
            with connect(self.database) as connection:
                run_id = activity.start_run(connection, job.name, chain_name, trigger)
            outcome, stopped = self._outcome_of(job, run_id)
            if outcome.status == "Failed" and disk_full(outcome.message):
                reserve.release()  # the room to record it
                outcome = RunOutcome(status="Failed", message=disk_full_reason(self.database))
            self._finish(job, run_id, outcome)
        if stopped is not None:
            raise stopped
        return JobRunResult(run_id, job.name, outcome.status, outcome.message, outcome)

    def _outcome_of(self, job: JobSpec, run_id: int) -> tuple[RunOutcome, RunStopped | None]:
        """Run the job; what it gave, and the stop that ended it early, if one did."""
        stopped: RunStopped | None = None
        try:
            with recorded_if_forced(lambda forced: self._finish(job, run_id, _stop(forced))):
                outcome = self._execute(job, run_id)
        except (JobFailed, ExtractionError, ConfigError, DestinationError) as failure:
            outcome = RunOutcome(status="Failed", message=str(failure))
            stopped = stop_received(failure)
        except Exception as failure:  # a bug must still close the run, never leave it Running
            outcome = RunOutcome(
                status="Failed", message=f"internal error: {type(failure).__name__}: {failure}"
            )
            stopped = stop_received(failure)
        except KeyboardInterrupt as failure:
            stopped = stop_received(failure) or RunStopped(signal.SIGINT)
            return _stop(stopped), stopped
        if stopped is not None:
            outcome = _stop(stopped)
        return outcome, stopped

    def _finish(self, job: JobSpec, run_id: int, outcome: RunOutcome) -> None:
        """Record the run's outcome and the notification it sends."""
        with connect(self.database) as connection:
            activity.finish_run(connection, run_id, outcome)
            recipients = (
                job.notify_on_failure if outcome.status == "Failed" else job.notify_on_success
            )
            event = "failure" if outcome.status == "Failed" else "success"
            activity.record_notification(connection, run_id, event, recipients)

    def _compared_table(self, job: JobSpec) -> ComparedTable:
        return ComparedTable(
            relation=f"{DESTINATION_SCHEMA}.{job.destination.object_name}",
            key=job.destination.key,
            exclude=job.destination.compare_exclude,
        )

    def _execute(self, job: JobSpec, run_id: int) -> RunOutcome:
        kind = kind_for(job)
        kind.check(self.config, dbt_runner.DBT_PROJECT_DIR)
        destination = self._compared_table(job)
        extraction = self._timed(run_id, job, "extract", lambda: self._extract(job))
        unchanged_since = self._transform_unless_current(kind, run_id, destination)
        return self._timed(
            run_id,
            job,
            "activity",
            lambda: self._account(kind, run_id, destination, extraction, unchanged_since),
        )

    def _transform_unless_current(
        self, kind: JobKind, run_id: int, destination: ComparedTable
    ) -> int | None:
        """Build the job's models, or skip when its last build read what a build reads now.

        Returns the run of that last build when skipped. The destination is snapshotted here,
        after extraction (which writes raw tables only), unless nothing can change it: only
        dbt writes it (snapshot and diff cost seconds on a million rows).
        """
        job = kind.job
        started = utc_now()
        write_destinations(self.config, dbt_runner.DBT_PROJECT_DIR)
        with connect(self.database) as connection:
            inputs = build_state.current_inputs(connection, self.config.path)
            unchanged_since = self._unchanged_since(connection, kind, inputs)
            if unchanged_since is None:
                snapshot_destination(connection, destination, snapshot_path(self.database))
                build_state.forget_build(connection, job.name)
        if unchanged_since is None:
            self._timed(run_id, job, "transform", lambda: self._transform(kind, run_id))
            with connect(self.database) as connection:
                build_state.record_build(connection, job.name, inputs, run_id)
            return None
        skipped = f"skipped, nothing changed since run {unchanged_since}"
        self.reporter.stage(job.name, f"transform: {skipped}")
        with connect(self.database) as connection:
            activity.record_stage(connection, run_id, "transform", started, utc_now(), skipped)
        return unchanged_since

    def _unchanged_since(
        self, connection, kind: JobKind, inputs: build_state.BuildInputs
    ) -> int | None:
        """The run of the job's last build when a build now would write the same tables."""
        last = build_state.last_build(connection, kind.job.name)
        if last is None or inputs.watermark is None or last.inputs != inputs:
            return None
        if not all(table_exists(connection, *relation) for relation in kind.outputs()):
            return None
        upstream = build_state.latest_build_run(connection, kind.rebuilt_after(self.config))
        if upstream is not None and upstream > last.run_id:
            return None
        return last.run_id

    def _timed(self, run_id: int, job: JobSpec, stage: str, work: Callable):
        self.reporter.stage(job.name, stage)
        started = utc_now()
        value = work()
        with connect(self.database) as connection:
            activity.record_stage(connection, run_id, stage, started, utc_now())
        return value

    def _extract(self, job: JobSpec) -> ExtractionResult:
        if not job.extract:
            return ExtractionResult()
        return run_extraction(
            self.database,
            access_token=self.source.access_token,
            base_url=self.source.base_url,
            resources=job.extract,
            on_progress=self.reporter.extraction_progress,
            **self.source_options,
        )

    def _transform(self, kind: JobKind, run_id: int) -> None:
        selection = kind.selection(self.config)
        # unit tests check the SQL, not the data: they run in `dbt build` and CI, not per sync;
        # a data test runs only when all it reads is selected or upstream, so a test of
        # another job's model never fails this job
        command = [
            "build",
            "--select",
            *selection.select,
            *(["--exclude", *selection.exclude] if selection.exclude else []),
            "--indirect-selection",
            "buildable",
            "--exclude-resource-type",
            "unit_test",
        ]
        # the run id reaches dbt as an env var: a new --vars value makes dbt parse it all again
        environment = {**kind.environment(), RUN_ID_ENV: str(run_id)}
        outcome = run_dbt(command, self.database, self.reporter.model_finished, environment)
        if not outcome.success:
            raise JobFailed(kind.explain_build_failure(outcome.message))

    def _account(
        self,
        kind: JobKind,
        run_id: int,
        destination: ComparedTable,
        extraction: ExtractionResult,
        unchanged_since: int | None,
    ) -> RunOutcome:
        job = kind.job
        rows_read = extraction.total_rows_read
        with connect(self.database) as connection:
            if unchanged_since is None:
                inserted, updated, deleted = count_changes(
                    connection, destination, snapshot_path(self.database)
                )
            else:
                inserted = updated = deleted = 0
            failed = self._copy_error_records(connection, kind, run_id)
            failed += activity.record_source_problems(
                connection, run_id, job.name, extraction.problems
            )
            schema, table = destination.relation.split(".")
            loaded = connection.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
        counts = ObjectCounts(job.destination.object_name, inserted, updated, deleted, failed)
        status = "Success"
        message = f"{loaded} rows in {destination.relation}"
        if failed:
            status = "Partial Success" if loaded else "Failed"
            message += f"; {failed} records rejected (see `orchestrate.py errors --run {run_id}`)"
        if unchanged_since is not None:
            message += f"; nothing changed since run {unchanged_since}, dbt build skipped"
        return RunOutcome(status=status, message=message, rows_read=rows_read, objects=[counts])

    def _copy_error_records(self, connection, kind: JobKind, run_id: int) -> int:
        job, schema = kind.job, kind.errors_schema
        if not job.errors_model or not table_exists(connection, schema, job.errors_model):
            return 0
        relation = f'{schema}."{job.errors_model}"'
        return activity.copy_error_records(
            connection, run_id, job.name, job.destination.object_name, relation
        )


def _stop(stopped: RunStopped) -> RunOutcome:
    """A stopped run is left as a kill -9 leaves it: the cursor did not move, nothing half-built."""
    return RunOutcome(status="Failed", message=stopped.reason)
