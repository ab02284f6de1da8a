"""The report's SQL: every figure is aggregated in DuckDB, only the top N rows come back."""

from dataclasses import dataclass, field
from datetime import datetime

from ..schemas import DESTINATION_SCHEMA
from ..warehouses import Session, table_exists

RUNS_PER_JOB = 30
ERROR_REASONS_PER_RUN = 10
COMPANIES_LISTED = 20
COMPANIES_DETAILED = 5
KPIS_PER_COMPANY = 10

DIRECTION = """case
    when kpi_target > kpi_baseline then 'increase'
    when kpi_target < kpi_baseline then 'decrease'
    when kpi_target = kpi_baseline then 'hold'
end"""
"""A goal's direction: customer_goals has none, so the sign of target − baseline decides."""

ON_TRACK = """case
    when kpi_actuals is null or kpi_baseline is null or kpi_target is null then null
    when kpi_target > kpi_baseline then kpi_actuals >= kpi_baseline
    when kpi_target < kpi_baseline then kpi_actuals <= kpi_baseline
    else kpi_actuals = kpi_target
end"""
"""On track: the latest actual is at the baseline or has moved from it toward the target
(a goal whose target equals its baseline: the actual equals it); null without all three."""

ON_TRACK_RULE = (
    "A KPI is on track when its latest actual is at its baseline or past it in the direction "
    "of its target (target above baseline: actual ≥ baseline; target below baseline: "
    "actual ≤ baseline; target equal to baseline: actual = target). KPIs without a baseline, "
    "a target or an actual are not counted."
)


@dataclass(frozen=True)
class RunCounts:
    run_id: int
    status: str
    started_at: datetime | None
    inserted: int
    updated: int
    deleted: int
    failed: int


@dataclass(frozen=True)
class JobHistory:
    job_name: str
    runs: list[RunCounts]
    """The job's latest runs, oldest first."""
    older_runs: int


@dataclass(frozen=True)
class ErrorReason:
    object_name: str
    reason: str
    records: int


@dataclass(frozen=True)
class RunErrors:
    run_id: int
    job_name: str
    total: int
    reasons: list[ErrorReason]
    more_reasons: int


class _OnTrackShare:
    on_track: int
    counted: int

    @property
    def share_on_track(self) -> float | None:
        """On track among the KPIs the rule counts; None when it counts none."""
        return self.on_track / self.counted if self.counted else None


@dataclass(frozen=True)
class GoalTotals(_OnTrackShare):
    goals: int
    kpis: int
    companies: int
    with_actual: int
    on_track: int
    counted: int


@dataclass(frozen=True)
class CompanyProgress(_OnTrackShare):
    company_gsid: str
    company_name: str
    goals: int
    kpis: int
    with_actual: int
    on_track: int
    counted: int


@dataclass(frozen=True)
class KpiProgress:
    goal_key: str
    kpi_name: str | None
    value_driver_name: str | None
    baseline: float | None
    target: float | None
    latest_actual: float | None
    direction: str | None
    on_track: bool | None


@dataclass(frozen=True)
class CompanyKpis:
    company: CompanyProgress
    kpis: list[KpiProgress]
    more_kpis: int


@dataclass(frozen=True)
class Actual:
    position: int
    measured_on: str | None
    measured_at: datetime | None
    value: float | None
    is_latest: bool


@dataclass
class GoalProgress:
    totals: GoalTotals
    companies: list[CompanyProgress]
    more_companies: int
    detailed: list[CompanyKpis]
    actuals: dict[str, list[Actual]] | None = field(default=None)
    """Actuals of the listed KPIs by goal_key; None when customer_goal_actuals is not built."""


def has_runs(connection: Session) -> bool:
    if not table_exists(connection, "activity", "job_runs"):
        return False
    return bool(connection.execute("select count(*) from activity.job_runs").fetchone()[0])


def job_histories(connection: Session, limit: int = RUNS_PER_JOB) -> list[JobHistory]:
    """Each job's latest runs with their counts, and how many older runs are left out."""
    rows = connection.execute(
        """with numbered as (
               select job_name, run_id, status, started_at, rows_inserted, rows_updated,
                      rows_deleted, rows_failed,
                      row_number() over (partition by job_name order by run_id desc) as recency,
                      count(*) over (partition by job_name) as runs
               from activity.job_runs
           )
           select job_name, run_id, status, started_at, coalesce(rows_inserted, 0),
                  coalesce(rows_updated, 0), coalesce(rows_deleted, 0),
                  coalesce(rows_failed, 0), runs
           from numbered where recency <= ?
           order by min(run_id) over (partition by job_name), job_name, run_id""",
        [limit],
    ).fetchall()
    histories: dict[str, JobHistory] = {}
    for job_name, *counts, runs in rows:
        history = histories.setdefault(job_name, JobHistory(job_name, [], max(0, runs - limit)))
        history.runs.append(RunCounts(*counts))
    return list(histories.values())


def run_errors(connection: Session, limit: int = ERROR_REASONS_PER_RUN) -> list[RunErrors]:
    """Error records of each job's last finished run (Success or Partial Success), by reason."""
    last_runs = connection.execute(
        """select job_name, max(run_id) from activity.job_runs
           where status in ('Success', 'Partial Success')
           group by job_name order by min(run_id)"""
    ).fetchall()
    if not last_runs or not table_exists(connection, "activity", "run_error_records"):
        return [RunErrors(run_id, job, 0, [], 0) for job, run_id in last_runs]
    rows = connection.execute(
        """select run_id, object_name, reason, count(*) as records
           from activity.run_error_records
           where run_id in (select unnest(?))
           group by all order by run_id, records desc, object_name, reason""",
        [[run_id for _, run_id in last_runs]],
    ).fetchall()
    reasons: dict[int, list[ErrorReason]] = {}
    for run_id, object_name, reason, records in rows:
        reasons.setdefault(run_id, []).append(ErrorReason(object_name, reason, records))
    found = []
    for job_name, run_id in last_runs:
        of_run = reasons.get(run_id, [])
        total = sum(reason.records for reason in of_run)
        more = max(0, len(of_run) - limit)
        found.append(RunErrors(run_id, job_name, total, of_run[:limit], more))
    return found


def goal_progress(connection: Session) -> GoalProgress | None:
    """Baseline, target and latest actual per company; None before customer_goals is built."""
    if not table_exists(connection, DESTINATION_SCHEMA, "customer_goals"):
        return None
    connection.execute(
        f"""create or replace temp view report_goals as
            select company_gsid, account_name, goal_key, kpi_id, kpi_name, value_driver_name,
                   total_benefit, kpi_baseline, kpi_target, kpi_actuals,
                   {DIRECTION} as direction, {ON_TRACK} as on_track
            from gainsight.customer_goals"""
    )
    company_names = (
        "(select gsid, min(name) as name from gainsight.company group by gsid)"
        if table_exists(connection, DESTINATION_SCHEMA, "company")
        else "(select null::varchar as gsid, null::varchar as name)"
    )
    connection.execute(
        f"""create or replace temp table report_companies as
            select goals.company_gsid,
                   coalesce(any_value(names.name), any_value(goals.account_name),
                            goals.company_gsid) as company_name,
                   count(*) as goals, count(goals.kpi_id) as kpis,
                   count(goals.kpi_actuals) as with_actual,
                   count(*) filter (where goals.on_track) as on_track,
                   count(goals.on_track) as counted
            from report_goals as goals
            left join {company_names} as names on names.gsid = goals.company_gsid
            group by goals.company_gsid"""
    )
    totals = GoalTotals(
        *connection.execute(
            """select coalesce(sum(goals), 0), coalesce(sum(kpis), 0), count(*),
                      coalesce(sum(with_actual), 0), coalesce(sum(on_track), 0),
                      coalesce(sum(counted), 0)
               from report_companies"""
        ).fetchone()
    )
    companies = [
        CompanyProgress(*row)
        for row in connection.execute(
            """select * from report_companies
               order by kpis desc, goals desc, company_name, company_gsid limit ?""",
            [COMPANIES_LISTED],
        ).fetchall()
    ]
    detailed = _company_kpis(connection, companies[:COMPANIES_DETAILED])
    listed_keys = [kpi.goal_key for company in detailed for kpi in company.kpis]
    return GoalProgress(
        totals=totals,
        companies=companies,
        more_companies=max(0, totals.companies - len(companies)),
        detailed=detailed,
        actuals=_actuals(connection, listed_keys),
    )


def _company_kpis(connection: Session, companies: list[CompanyProgress]) -> list[CompanyKpis]:
    if not companies:
        return []
    rows = connection.execute(
        """select company_gsid, goal_key, kpi_name, value_driver_name, kpi_baseline,
                  kpi_target, kpi_actuals, direction, on_track
           from report_goals
           where company_gsid in (select unnest(?)) and kpi_id is not null
           qualify row_number() over (
               partition by company_gsid order by total_benefit desc nulls last, goal_key
           ) <= ?
           order by company_gsid, total_benefit desc nulls last, goal_key""",
        [[company.company_gsid for company in companies], KPIS_PER_COMPANY],
    ).fetchall()
    kpis: dict[str, list[KpiProgress]] = {}
    for company_gsid, *values in rows:
        kpis.setdefault(company_gsid, []).append(KpiProgress(*values))
    detailed = []
    for company in companies:
        listed = kpis.get(company.company_gsid, [])
        detailed.append(CompanyKpis(company, listed, max(0, company.kpis - len(listed))))
    return detailed


def _actuals(connection: Session, goal_keys: list[str]) -> dict[str, list[Actual]] | None:
    """The listed KPIs' actuals in time order (undated entries last, by position)."""
    if not table_exists(connection, DESTINATION_SCHEMA, "customer_goal_actuals"):
        return None
    rows = connection.execute(
        """select goal_key, actual_position, measured_on, timezone('UTC', measured_at), value,
                  is_latest
           from gainsight.customer_goal_actuals
           where goal_key in (select unnest(?))
           order by goal_key, measured_at nulls last, actual_position""",
        [goal_keys],
    ).fetchall()
    actuals: dict[str, list[Actual]] = {key: [] for key in goal_keys}
    for goal_key, *values in rows:
        actuals[goal_key].append(Actual(*values))
    return actuals
