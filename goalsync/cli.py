"""Command line: a thin layer over the engine and the views; output for people lives here."""

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import connection as connections
from . import dbt as dbt_runner
from . import explain, scaffold, views
from .clock import utc_now
from .destinations import write_destinations
from .engine import Engine, JobRunResult
from .errors import ConfigError, first_line, redacted, shown_path
from .jobs_config import CS_GOAL_SYNC, load_jobs_config
from .paths import duckdb_path
from .scheduler import SCHEDULE_TRIGGER
from .seeds import check_seeds
from .stops import STOPPED_HINT, RunStopped, stop_on_signals, stop_received
from .warehouses import DatabaseBusy, exclusive_run

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_CHAIN = CS_GOAL_SYNC.name

# piped or captured output gets room for whole rows instead of rich's 80-column default
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


class ConsoleReporter:
    """Shows the stage, pages and rows so far while a job runs."""

    def stage(self, job_name: str, stage: str) -> None:
        console.print(f"[bold]{job_name}[/bold] · {stage}")

    def extraction_progress(self, resource: str, pages: int, rows: int) -> None:
        if pages == 1 or pages % 50 == 0:
            console.print(f"  {resource}: {pages} pages, {rows} rows so far")

    def model_finished(self, model: str, status: str) -> None:
        console.print(f"  dbt {model}: {status}")


@contextmanager
def source_settings() -> Iterator[connections.Connection]:
    """The configured connection, or the built-in sandbox server when none is configured."""
    resolved = connections.resolve_connection()
    if resolved is not None:
        yield resolved
        return
    from extract.sandbox import SandboxServer

    with SandboxServer() as sandbox:
        console.print(
            "[bold yellow]SANDBOX[/bold yellow] no Ecosystems connection is configured: using "
            f"the built-in sandbox server at {sandbox.base_url} with generated demo data.\n"
            "        Configure a real one with `uv run orchestrate.py connection create --name "
            "NAME` or SOURCES__ECOSYSTEMS__ACCESS_TOKEN / SOURCES__ECOSYSTEMS__BASE_URL."
        )
        yield connections.Connection("sandbox", sandbox.base_url, sandbox.token, "sandbox")


RUN_LOCK_WAIT_SECONDS = 10.0
"""How long a run waits for another run to release the database before it gives up."""


def run_target(
    kind: str, name: str, trigger: str, wait_seconds: float | None = None
) -> list[JobRunResult]:
    """Run a chain or a job with the database held for the whole run."""
    config = load_jobs_config()
    # an unknown name fails here, before the lock is taken or the sandbox started
    if kind == "chain":
        config.chain(name)
    else:
        config.job(name)
    check_seeds()  # a broken reference export stops the run before anything is touched
    database = duckdb_path()
    started = utc_now().strftime("%Y-%m-%d %H:%M:%S UTC")
    holder = f"goalsync {trigger} run of {kind} '{name}' (pid {os.getpid()}, started {started})"
    wait = RUN_LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    # the objects of every import so far (dlt, duckdb, pyarrow) stay for the whole run: the
    # collector need not rescan them at each full collection (measured: a no-change rerun at
    # a million KPIs takes 2.8 s with this, 3.2 s without)
    gc.freeze()
    # a scheduled run leaves the signals to the scheduler: it stops after the running target
    stops = nullcontext() if trigger == SCHEDULE_TRIGGER else stop_on_signals()
    with (
        stops,
        progress_lines(),
        exclusive_run(database, holder, wait),
        source_settings() as source,
    ):
        engine = Engine(database, config, source, ConsoleReporter())
        if kind == "chain":
            results = engine.run_chain(name, trigger=trigger)
        else:
            results = engine.run_job(name, trigger=trigger)
    print_summary(results)
    return results


class _ProgressLine(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        console.print(f"  {record.getMessage()}", markup=False)


@contextmanager
def progress_lines() -> Iterator[None]:
    """Show what extraction and the run lock report (retries and waits, loads) as progress."""
    handler = _ProgressLine(logging.INFO)
    loggers = [logging.getLogger(name) for name in ("extract.ecosystems", "goalsync")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def cmd_run(args: argparse.Namespace) -> int:
    if args.job:
        results = run_target("job", args.job, "manual")
    else:
        results = run_target("chain", args.chain or DEFAULT_CHAIN, "manual")
    return EXIT_FAILED if any(r.status == "Failed" for r in results) else EXIT_OK


def print_summary(results: Sequence[JobRunResult]) -> None:
    table = Table(title="Run summary")
    for column in ("run", "job", "status", "read", "inserted", "updated", "deleted", "failed"):
        table.add_column(column, justify="right" if column not in ("job", "status") else "left")
    for result in results:
        outcome = result.outcome
        counts = (
            [outcome.rows_read]
            + [outcome.total(a) for a in ("inserted", "updated", "deleted", "failed")]
            if outcome
            else [0] * 5
        )
        table.add_row(str(result.run_id), result.job_name, result.status, *map(str, counts))
    console.print(table)
    for result in results:
        if result.message:
            console.print(f"{result.job_name}: {result.message}")


def cmd_test_connection(args: argparse.Namespace) -> int:
    resolved = connections.resolve_connection()
    if resolved is None:
        raise ConfigError(
            "no Ecosystems connection is configured: create one with `uv run orchestrate.py "
            "connection create --name NAME` or set SOURCES__ECOSYSTEMS__ACCESS_TOKEN"
        )
    result = connections.test_connection(resolved)
    if result.ok:
        console.print(
            f"Connection '{resolved.name}' works: organization {result.organization_name}"
        )
        return EXIT_OK
    err_console.print(f"Connection '{resolved.name}' failed: {result.reason}")
    return EXIT_FAILED


def cmd_connection(args: argparse.Namespace) -> int:
    action = args.action
    if action == "create":
        connections.refuse_second_connection()  # before asking for a token
        token = connections.read_token()
        stored = connections.create_connection(args.name, token, base_url=args.base_url)
        console.print(f"Created connection '{stored.name}' ({stored.base_url}).")
    elif action == "edit":
        token = connections.read_token() if args.token else None
        stored = connections.edit_connection(
            name=args.name, access_token=token, base_url=args.base_url
        )
        console.print(f"Updated connection '{stored.name}' ({stored.base_url}).")
    elif action == "delete":
        connections.delete_connection()
        console.print("Deleted the connection.")
    else:
        stored = connections.load_stored_connection()
        if stored is None:
            console.print("No connection is stored.")
        else:
            console.print(f"name:         {stored.name}")
            console.print(f"base url:     {stored.base_url}")
            console.print(f"access token: {connections.mask_token(stored.access_token)}")
    return EXIT_OK


def cmd_activity(args: argparse.Namespace) -> int:
    database = duckdb_path()
    config = load_jobs_config()
    if args.job:
        config.job(args.job)
        view = views.job_history(database, args.job, limit=args.limit)
    else:
        view = views.job_list(database, config)
    print_view(view)
    return EXIT_OK


def cmd_errors(args: argparse.Namespace) -> int:
    database = duckdb_path()
    if args.csv:
        count = views.export_error_records(database, args.run, args.csv)
        console.print(f"Wrote {count} error records of run {args.run} to {args.csv}")
    else:
        print_view(views.error_records(database, args.run, limit=args.limit))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    out_path = Path(args.out).expanduser() if args.out else None
    out = write_report(duckdb_path(), load_jobs_config(), out_path)
    console.print(f"Wrote the report to {out}")
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    if args.object:
        with source_settings() as source:
            view = views.preview_object(source, args.object, args.limit)
    else:
        config = load_jobs_config()
        job = config.job(args.job or DEFAULT_CHAIN)
        # dbt reads the whole project: the destinations of jobs.yml as it is now
        write_destinations(config, dbt_runner.DBT_PROJECT_DIR)
        view = views.preview_job(duckdb_path(), job, args.limit)
    print_view(view)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    for view in explain.explain_goal(duckdb_path(), args.goal):
        print_view(view)
    return EXIT_OK


def cmd_job_new(args: argparse.Namespace) -> int:
    scaffolded = scaffold.scaffold_job(
        args.name,
        source=args.source,
        destination=args.destination,
        kind=args.kind,
        operation=args.operation,
        key=args.key,
    )
    console.print(f"Added job '{scaffolded.job_name}' to {shown_path(scaffolded.jobs_path)}:")
    for path in scaffolded.files:
        console.print(f"  {shown_path(path)}")
    console.print(
        "Edit the models (fields, filters, mappings), then:\n"
        f'  uv run orchestrate.py preview --job "{scaffolded.job_name}"\n'
        f'  uv run orchestrate.py run --job "{scaffolded.job_name}"'
    )
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    from .scheduler import Scheduler

    def run_scheduled(kind: str, name: str, trigger: str) -> list[JobRunResult]:
        return run_target(kind, name, trigger, wait_seconds=600)

    def log(line: str) -> None:
        console.print(line, markup=False)

    Scheduler(load_jobs_config(), run_scheduled, log=log).run_forever()
    return EXIT_OK


def print_view(view: views.View) -> None:
    if not view.rows:
        console.print(view.empty_message)
        return
    table = Table(title=view.title)
    for column in view.columns:
        table.add_column(column, overflow="fold")
    for row in view.rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrate.py",
        description="goalsync: Ecosystems → Gainsight Customer Goals. "
        "Without a command, runs the default chain (CS Goal Sync) once.",
    )
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="run a chain (default: CS Goal Sync) or one job")
    target = run.add_mutually_exclusive_group()
    target.add_argument("--chain", help="name of the chain to run")
    target.add_argument("--job", help="name of the job to run")
    run.set_defaults(handler=cmd_run)

    test = commands.add_parser("test-connection", help="check the Ecosystems connection")
    test.set_defaults(handler=cmd_test_connection)

    activity = commands.add_parser("activity", help="jobs and their last runs, or one job's runs")
    activity.add_argument("--job", help="show this job's run history")
    activity.add_argument("--limit", type=int, default=20)
    activity.set_defaults(handler=cmd_activity)

    errors = commands.add_parser("errors", help="error records of a run")
    errors.add_argument("--run", type=int, required=True, help="run id (see `activity`)")
    errors.add_argument("--csv", help="write them to this CSV file")
    errors.add_argument("--limit", type=int, default=50)
    errors.set_defaults(handler=cmd_errors)

    report = commands.add_parser("report", help="write an HTML report of jobs, runs and goals")
    report.add_argument("--out", help="HTML file to write (default: beside the database)")
    report.set_defaults(handler=cmd_report)

    preview = commands.add_parser("preview", help="sample rows of a job's output or a source")
    what = preview.add_mutually_exclusive_group()
    what.add_argument("--job", help="job whose output to preview (default: CS Goal Sync)")
    what.add_argument("--object", choices=("documents", "value_drivers", "kpis"))
    preview.add_argument("--limit", type=int, default=10)
    preview.set_defaults(handler=cmd_preview)

    explain_ = commands.add_parser(
        "explain", help="where a goal comes from: its source records, lookups and runs"
    )
    explain_.add_argument("--goal", required=True, help="goal_key (the KPI or value driver id)")
    explain_.set_defaults(handler=cmd_explain)

    job = commands.add_parser("job", help="custom jobs")
    job_actions = job.add_subparsers(dest="action", required=True)
    new = job_actions.add_parser("new", help="scaffold a custom job: dbt models + jobs.yml entry")
    new.add_argument("name", help="job name, e.g. 'Company Value Summary'")
    new.add_argument("--source", required=True, choices=tuple(scaffold.SOURCES))
    new.add_argument("--destination", required=True, help="object name in schema gainsight")
    new.add_argument("--kind", default="custom", choices=scaffold.SCAFFOLD_KINDS)
    new.add_argument("--operation", default="upsert", choices=scaffold.SCAFFOLD_OPERATIONS)
    new.add_argument("--key", help="key column (default: the source record's id)")
    new.set_defaults(handler=cmd_job_new)

    schedule = commands.add_parser("schedule", help="run due jobs and chains by cron until Ctrl-C")
    schedule.set_defaults(handler=cmd_schedule)

    connection = commands.add_parser("connection", help="the one Ecosystems connection")
    actions = connection.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create it (the token is read from a prompt)")
    create.add_argument("--name", required=True)
    create.add_argument("--base-url", default=None)
    edit = actions.add_parser("edit", help="change its name, base URL or token")
    edit.add_argument("--name")
    edit.add_argument("--base-url")
    edit.add_argument("--token", action="store_true", help="prompt for a new access token")
    actions.add_parser("show", help="show it, token masked")
    actions.add_parser("delete", help="delete it")
    connection.set_defaults(handler=cmd_connection)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    try:
        return args.handler(args)
    except ConfigError as error:
        err_console.print(f"error: {_shown_error(error)}", markup=False)
        return EXIT_USAGE
    except DatabaseBusy as error:  # the run did not start; try again once the other one ends
        err_console.print(f"error: {_shown_error(error)}", markup=False)
        return EXIT_FAILED
    except KeyboardInterrupt as interrupt:
        stopped = stop_received(interrupt) or RunStopped(signal.SIGINT)
        err_console.print(f"error: {stopped.reason}: {STOPPED_HINT}", markup=False)
        return stopped.exit_status
    except Exception as error:  # a bug: one line, never a traceback that could carry a secret
        err_console.print(
            f"error: internal error ({type(error).__name__}: {_shown_error(error)})", markup=False
        )
        return EXIT_FAILED


def _shown_error(error: BaseException) -> str:
    """The first line of an error, with any `user:password@` of a URL left out."""
    return redacted(first_line(error))
