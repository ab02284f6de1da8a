"""`explain --goal KEY`: one goal, the raw records it came from, its lookups and its runs."""

from pathlib import Path
from typing import Any

from .errors import ConfigError, shown_path
from .schemas import DESTINATION_SCHEMA, RAW_SCHEMA
from .views import View
from .warehouses import Session, connect, exists, table_exists

GOALS = f"{DESTINATION_SCHEMA}.customer_goals"
HISTORY = f"{DESTINATION_SCHEMA}.customer_goals_history"
LINEAGE = f"{DESTINATION_SCHEMA}.customer_goals_lineage"
RUN_FIRST = "run CS Goal Sync first (`uv run orchestrate.py`)"
# (source object, raw table, the goal's column holding its id, the lineage's load id column)
RECORDS = (
    ("document", "documents", "document_id", "document_load_id"),
    ("value driver", "value_drivers", "value_driver_id", "value_driver_load_id"),
    ("kpi", "kpis", "kpi_id", "kpi_load_id"),
)
# (lookup, raw document field matched, goal column holding the match, Gainsight object)
LOOKUPS = (
    ("company", "account__crm_account_id", "company_gsid", "company"),
    ("created_by", "created_by__email", "created_by_gsid", "gs_user"),
    ("last_updated_by", "last_updated_by__email", "last_updated_by_gsid", "gs_user"),
)
MATCHED_FIELD = {"company": "sfdc_account_id", "gs_user": "email"}


def explain_goal(database: Path, goal_key: str) -> list[View]:
    """The goal's row, its source records as received, the lookups and the runs that wrote it."""
    if not exists(database):
        raise ConfigError(f"no database at {shown_path(database)}: {RUN_FIRST}")
    with connect(database, must_exist=True) as connection:
        if not table_exists(connection, DESTINATION_SCHEMA, "customer_goals_history"):
            raise ConfigError(f"no CS Goal Sync run has recorded goal history yet: {RUN_FIRST}")
        goal = _one(connection, f"select * from {GOALS} where goal_key = ?", goal_key)
        last_version = _one(
            connection,
            f"select * from {HISTORY} where goal_key = ? order by dbt_valid_from desc limit 1",
            goal_key,
        )
        if goal is None and last_version is None:
            raise ConfigError(
                f"no goal '{goal_key}' in {GOALS} or its history: goal_key is the KPI id, "
                "or the value driver id of a goal without KPIs"
            )
        mapped = goal if goal is not None else last_version
        lineage = _one(connection, f"select * from {LINEAGE} where goal_key = ?", goal_key)
        documents = [_raw_record(connection, *record, mapped, lineage) for record in RECORDS]
        return [
            _goal_view(goal_key, goal),
            *documents,
            _lookups_view(connection, mapped, documents[0]),
            _runs_view(connection, goal_key, still_live=goal is not None),
        ]


def _one(connection: Session, sql: str, *params: Any) -> dict | None:
    cursor = connection.execute(sql, list(params))
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([column[0] for column in cursor.description], row, strict=True))


def _goal_view(goal_key: str, goal: dict | None) -> View:
    view = View(f"Goal {goal_key} ({GOALS})", ["column", "value"])
    view.empty_message = f"Goal {goal_key} is not in {GOALS} now (see its runs below)."
    view.rows = [(name, value) for name, value in (goal or {}).items()]
    return view


def _raw_record(
    connection: Session,
    label: str,
    table: str,
    id_column: str,
    load_column: str,
    mapped: dict,
    lineage: dict | None,
) -> View:
    record_id = mapped.get(id_column)
    title = f"Source {label} {record_id} ({RAW_SCHEMA}.{table}, as received)"
    if lineage is not None and lineage.get(load_column) is not None:
        # differs from the record's _dlt_load_id when a newer load has not been built yet
        title += f"; the goal was built from its load {lineage[load_column]}"
    view = View(title, ["field", "value"])
    if record_id is None:
        view.empty_message = f"No source {label}: the goal has none."
        return view
    record = _one(
        connection,
        f'select * from {RAW_SCHEMA}."{table}" where id = ?',
        record_id,
    )
    view.empty_message = f"Source {label} {record_id} is not in {RAW_SCHEMA}.{table}."
    view.rows = [(name, value) for name, value in (record or {}).items()]
    return view


def _lookups_view(connection: Session, mapped: dict, document: View) -> View:
    fields = dict(document.rows)
    view = View("Lookups", ["lookup", "matched on", "value", "match"])
    for lookup, field, goal_column, target in LOOKUPS:
        gsid = mapped.get(goal_column)
        match = "no match"
        if gsid is not None:
            query = f"select name from {DESTINATION_SCHEMA}.{target} where gsid = ?"
            row = _one(connection, query, gsid)
            match = f"{gsid} ({row['name'] if row else 'not in ' + target})"
        view.rows.append((lookup, f"{target}.{MATCHED_FIELD[target]}", fields.get(field), match))
    return view


def _runs_view(connection: Session, goal_key: str, still_live: bool) -> View:
    """Each version of the goal and the run that wrote it; the last gap is its removal."""
    view = View(
        "Runs that inserted or updated it (times in UTC)",
        ["run", "started at", "status", "change", "valid from", "valid to"],
    )
    view.empty_message = "No run has recorded a version of this goal."
    versions = connection.execute(
        f"""select history.goalsync_run_id, runs.started_at, runs.status,
                   history.dbt_valid_from, history.dbt_valid_to
            from {HISTORY} as history
            left join activity.job_runs as runs on runs.run_id = history.goalsync_run_id
            where history.goal_key = ?
            order by history.dbt_valid_from""",
        [goal_key],
    ).fetchall()
    previous_to = None
    for run_id, started_at, status, valid_from, valid_to in versions:
        change = "updated" if previous_to is not None and previous_to == valid_from else "inserted"
        view.rows.append((run_id, started_at, status, change, valid_from, valid_to))
        previous_to = valid_to
    if versions and not still_live:
        removed_at = versions[-1][4]
        view.rows.append((None, None, None, "removed (no longer a live goal)", removed_at, None))
    return view
