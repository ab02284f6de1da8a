"""The page: a Jinja template with the stylesheet inlined and the charts drawn as SVG."""

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from . import charts
from .queries import ON_TRACK_RULE, CompanyProgress, GoalProgress, KpiProgress

if TYPE_CHECKING:
    from . import ReportData

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def featured_kpi(progress: GoalProgress) -> tuple[CompanyProgress, KpiProgress] | None:
    """The listed KPI with the most dated actuals (the first such, in page order)."""
    best, most = None, 0
    for detail in progress.detailed:
        for kpi in detail.kpis:
            dated = sum(
                1
                for actual in (progress.actuals or {}).get(kpi.goal_key, [])
                if actual.measured_at is not None and actual.value is not None
            )
            if dated > most:
                best, most = (detail.company, kpi), dated
    return best


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(number=charts.plain_number, share=_share, when=_when)
    environment.globals.update(
        run_history_chart=charts.run_history_chart,
        actuals_chart=charts.actuals_chart,
        sparkline=charts.sparkline,
        count_series=charts.COUNT_SERIES,
        status_colours=charts.STATUS_COLOURS,
        on_track_rule=ON_TRACK_RULE,
        featured_kpi=featured_kpi,
    )
    return environment


def render_page(data: "ReportData") -> str:
    return _environment().get_template("report.html.j2").render(report=data)
