"""What a finished sync recorded: its job run, stage times, dlt's trace and dbt's node times.

Run as `python -m benchmarks.sync_details --database DB` after a sync (its own process, so
the benchmark's parent stays small); prints JSON.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import duckdb

from goalsync.extraction import PIPELINE_NAME
from goalsync.jobs_config import CS_GOAL_SYNC
from goalsync.paths import DBT_PROJECT_DIR, pipelines_dir

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


def job_run(connection: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    row = connection.execute(
        f"select {', '.join(RUN_COLUMNS)} from activity.job_runs where job_name = ? "
        "order by run_id desc limit 1",
        [CS_GOAL_SYNC.name],
    ).fetchone()
    run = dict(zip(RUN_COLUMNS, row, strict=True))
    run["stages"] = dict(
        connection.execute(
            "select stage, seconds from activity.run_stages where run_id = ?", [run["run_id"]]
        ).fetchall()
    )
    return run


def dlt_steps(database: Path) -> dict[str, float]:
    """Seconds of dlt's extract, normalize and load steps in the last pipeline run."""
    import dlt

    pipeline = dlt.attach(PIPELINE_NAME, pipelines_dir=str(pipelines_dir(database)))
    trace = pipeline.last_trace
    if trace is None:
        return {}
    return {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in trace.steps
        if step.finished_at is not None and step.step in ("extract", "normalize", "load")
    }


def dbt_nodes(target_path: Path, top: int = 8) -> dict[str, Any]:
    """The slowest nodes of the last dbt invocation (the sync's `dbt build`), and all of them."""
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    timed = [(r["unique_id"].split(".", 2)[-1], r["execution_time"]) for r in results]
    return {
        "slowest": sorted(timed, key=lambda node: -node[1])[:top],
        "seconds": sum(seconds for _, seconds in timed),
        "count": len(timed),
    }


def sync_details(database: Path) -> dict[str, Any]:
    with duckdb.connect(str(database), read_only=True) as connection:
        details = job_run(connection)
        details["goals"], details["goals_fingerprint"] = goals_fingerprint(
            connection, f"gainsight.{CS_GOAL_SYNC.model}"
        )
    details["dlt_steps"] = dlt_steps(database)
    details["dbt_nodes"] = dbt_nodes(DBT_PROJECT_DIR / "target")
    return details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_details")
    parser.add_argument("--database", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(sync_details(args.database), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
