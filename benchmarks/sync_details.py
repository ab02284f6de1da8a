"""What the benchmark's syncs recorded: job runs, stage times, dlt's traces, dbt's node times.

Run as `python -m benchmarks.sync_details --database DB --artifacts DIR ...` once the
syncs are done (its own process, so the benchmark's parent stays small); one `--artifacts`
folder per sync, oldest first, holding the `trace.pickle` and `run_results.json` it left.
Prints a JSON list.
"""

import argparse
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import duckdb

from goalsync.jobs_config import CS_GOAL_SYNC

from .floor import goals_fingerprint

RUN_COLUMNS = (
    "run_id",
    "status",
    "rows_read",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "rows_failed",
    "message",
)


def job_runs(connection: duckdb.DuckDBPyConnection, count: int) -> list[dict[str, Any]]:
    """The job's last `count` runs, oldest first, with their stage times."""
    rows = connection.execute(
        f"select {', '.join(RUN_COLUMNS)} from activity.job_runs where job_name = ? "
        "order by run_id desc limit ?",
        [CS_GOAL_SYNC.name, count],
    ).fetchall()
    runs = [dict(zip(RUN_COLUMNS, row, strict=True)) for row in reversed(rows)]
    for run in runs:
        stages = connection.execute(
            "select stage, seconds, epoch(started_at), epoch(finished_at) "
            "from activity.run_stages where run_id = ? order by started_at",
            [run["run_id"]],
        ).fetchall()
        run["stages"] = {stage: seconds for stage, seconds, _, _ in stages}
        run["stage_spans"] = {stage: (started, finished) for stage, _, started, finished in stages}
    return runs


def dlt_steps(trace_path: Path) -> dict[str, float]:
    """Seconds of dlt's extract, normalize and load steps in a saved trace."""
    if not trace_path.exists():
        return {}
    import dlt.pipeline.trace  # noqa: F401  (the classes the pickle holds)

    trace = pickle.loads(trace_path.read_bytes())
    return {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in trace.steps
        if step.finished_at is not None and step.step in ("extract", "normalize", "load")
    }


def dbt_nodes(results_path: Path, top: int = 6) -> dict[str, Any]:
    """The slowest nodes of one `dbt build`, and all of them."""
    if not results_path.exists():
        return {"slowest": [], "seconds": 0.0, "count": 0}
    results = json.loads(results_path.read_text())["results"]
    timed = [(r["unique_id"].split(".")[2], r["execution_time"]) for r in results]
    return {
        "slowest": sorted(timed, key=lambda node: -node[1])[:top],
        "seconds": sum(seconds for _, seconds in timed),
        "count": len(timed),
    }


def sync_details(database: Path, artifacts: list[Path]) -> list[dict[str, Any]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        runs = job_runs(connection, len(artifacts))
        goals, fingerprint = goals_fingerprint(connection, f"gainsight.{CS_GOAL_SYNC.model}")
        errors, errors_fingerprint = goals_fingerprint(
            connection, f"gainsight.{CS_GOAL_SYNC.errors_model}"
        )
    for run, folder in zip(runs, artifacts, strict=True):
        run["dlt_steps"] = dlt_steps(folder / "trace.pickle")
        run["dbt_nodes"] = dbt_nodes(folder / "run_results.json")
    runs[-1]["final"] = {
        "goals": goals,
        "goals_fingerprint": fingerprint,
        "errors": errors,
        "errors_fingerprint": errors_fingerprint,
    }
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_details")
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--artifacts", type=Path, action="append", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(sync_details(args.database, args.artifacts), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
