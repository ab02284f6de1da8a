"""Charts as inline SVG, drawn by hand: a few rects, lines and circles need no library."""

import math
from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

from .queries import Actual, RunCounts

COUNT_SERIES = (
    ("inserted", "#2f7ed8"),
    ("updated", "#8e5cd9"),
    ("deleted", "#e08a1e"),
    ("failed", "#d23f3f"),
)
STATUS_COLOURS = {
    "Success": "#2e9d57",
    "Partial Success": "#e0b21e",
    "Failed": "#d23f3f",
    "Skipped": "#9aa3ad",
    "Running": "#2f7ed8",
}
MAX_GROUP_WIDTH = 56
ACTUAL_COLOUR = "#2f7ed8"
BASELINE_COLOUR = "#7a8591"
TARGET_COLOUR = "#2e9d57"


def compact_number(value: float) -> str:
    """1234567 → 1.2M: axis labels stay short at a million goals."""
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.4g}"


def plain_number(value: float | None) -> str:
    """1234567 → 1,234,567; fractions keep two decimals; a missing value is a dash."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1
    raw_step = (high - low) / count
    power = 10 ** math.floor(math.log10(raw_step))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw_step)
    first = math.floor(low / step) * step
    ticks = []
    tick = first
    while tick < high + step * 0.999:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


def run_history_chart(runs: Sequence[RunCounts], width: int = 760, height: int = 220) -> Markup:
    """Grouped bars per run (inserted, updated, deleted, failed) and a status dot under each."""
    left, right, top, bottom = 56, 12, 12, 44
    # a job with a few runs gets narrow groups, not bars as wide as the page
    width = min(width, left + right + MAX_GROUP_WIDTH * max(len(runs), 4))
    plot_width, plot_height = width - left - right, height - top - bottom
    highest = max((getattr(run, name) for run in runs for name, _ in COUNT_SERIES), default=0)
    ticks = nice_ticks(0, max(highest, 4))  # whole rows per tick, even when few changed
    scale_top = ticks[-1]

    def y(value: float) -> float:
        return top + plot_height - value / scale_top * plot_height

    parts = [_svg_open(width, height, "run history: rows inserted, updated, deleted, failed")]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="axis" x="{left - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{compact_number(tick)}</text>'
        )
    group = plot_width / max(len(runs), 1)
    bar = group * 0.8 / len(COUNT_SERIES)
    label_every = math.ceil(len(runs) / 15) if runs else 1
    for index, run in enumerate(runs):
        x0 = left + index * group + group * 0.1
        for offset, (name, colour) in enumerate(COUNT_SERIES):
            value = getattr(run, name)
            if not value:
                continue
            parts.append(
                f'<rect class="bar {name}" x="{x0 + offset * bar:.1f}" y="{y(value):.1f}" '
                f'width="{max(bar - 1, 1):.1f}" height="{y(0) - y(value):.1f}" fill="{colour}">'
                f"<title>run {run.run_id}: {value:,} {name}</title></rect>"
            )
        centre = left + (index + 0.5) * group
        colour = STATUS_COLOURS.get(run.status, "#9aa3ad")
        parts.append(
            f'<circle class="status" cx="{centre:.1f}" cy="{top + plot_height + 10}" r="4" '
            f'fill="{colour}"><title>run {run.run_id}: {escape(run.status)}</title></circle>'
        )
        if index % label_every == 0:
            parts.append(
                f'<text class="axis" x="{centre:.1f}" y="{top + plot_height + 30}" '
                f'text-anchor="middle">{run.run_id}</text>'
            )
    parts.append(
        f'<line class="axis-line" x1="{left}" x2="{width - right}" y1="{y(0):.1f}" '
        f'y2="{y(0):.1f}"/><text class="axis" x="{left - 6}" y="{height - 4}" '
        'text-anchor="end">run</text></svg>'
    )
    return Markup("".join(parts))


def _dated(actuals: Sequence[Actual]) -> list[tuple[datetime, float, bool]]:
    return [
        (actual.measured_at, actual.value, actual.is_latest)
        for actual in actuals
        if actual.measured_at is not None and actual.value is not None
    ]


def actuals_chart(
    actuals: Sequence[Actual],
    baseline: float | None,
    target: float | None,
    width: int = 760,
    height: int = 260,
) -> Markup:
    """A KPI's actuals over time, its baseline and target as dashed lines, latest in bold."""
    points = _dated(actuals)
    left, right, top, bottom = 64, 90, 14, 36
    if not points:
        return Markup('<p class="muted">No dated actuals to draw.</p>')
    frame = _Frame(points, baseline, target, left, width - right, top, height - bottom)
    parts = [_svg_open(width, height, "actuals over time with baseline and target")]
    for tick in nice_ticks(frame.low, frame.high):
        if frame.low <= tick <= frame.high:
            parts.append(
                f'<line class="grid" x1="{left}" x2="{width - right}" y1="{frame.y(tick):.1f}" '
                f'y2="{frame.y(tick):.1f}"/><text class="axis" x="{left - 6}" '
                f'y="{frame.y(tick) + 4:.1f}" text-anchor="end">{compact_number(tick)}</text>'
            )
    for label, value, colour in (
        ("baseline", baseline, BASELINE_COLOUR),
        ("target", target, TARGET_COLOUR),
    ):
        if value is not None:
            parts.append(
                f'<line class="{label}" x1="{left}" x2="{width - right}" '
                f'y1="{frame.y(value):.1f}" y2="{frame.y(value):.1f}" stroke="{colour}" '
                f'stroke-dasharray="6 4"/><text class="axis" x="{width - right + 6}" '
                f'y="{frame.y(value) + 4:.1f}" fill="{colour}">{label} '
                f"{compact_number(value)}</text>"
            )
    first, last = points[0][0], points[-1][0]
    ends = ((first, "start"), (last, "end")) if first != last else ((first, "start"),)
    for moment, anchor in ends:
        parts.append(
            f'<text class="axis" x="{frame.x(moment):.1f}" y="{height - 12}" '
            f'text-anchor="{anchor}">{moment:%Y-%m-%d}</text>'
        )
    parts.append(_line_and_dots(frame, points, radius=3.5))
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(
    actuals: Sequence[Actual], target: float | None, width: int = 120, height: int = 28
) -> Markup:
    """The actuals' shape in a table cell; the faint line is the target."""
    points = _dated(actuals)
    if not points:
        return Markup('<span class="muted">–</span>')
    frame = _Frame(points, None, target, 3, width - 3, 3, height - 3)
    parts = [_svg_open(width, height, "actuals over time", css_class="sparkline")]
    if target is not None:
        parts.append(
            f'<line class="target" x1="0" x2="{width}" y1="{frame.y(target):.1f}" '
            f'y2="{frame.y(target):.1f}" stroke="{TARGET_COLOUR}" stroke-dasharray="3 2"/>'
        )
    parts.append(_line_and_dots(frame, points, radius=2))
    parts.append("</svg>")
    return Markup("".join(parts))


class _Frame:
    """Maps instants and values of the points (and the reference lines) into the plot box."""

    def __init__(self, points, baseline, target, x_min, x_max, y_min, y_max) -> None:
        values = [value for _, value, _ in points]
        values += [reference for reference in (baseline, target) if reference is not None]
        self.low, self.high = min(values), max(values)
        if self.low == self.high:
            self.low, self.high = self.low - 1, self.high + 1
        padding = (self.high - self.low) * 0.05
        self.low, self.high = self.low - padding, self.high + padding
        self.start = points[0][0].timestamp()
        self.span = (points[-1][0].timestamp() - self.start) or 1.0
        self.single = len({moment for moment, _, _ in points}) == 1
        self.x_min, self.x_max, self.y_min, self.y_max = x_min, x_max, y_min, y_max

    def x(self, moment: datetime) -> float:
        if self.single:
            return (self.x_min + self.x_max) / 2
        share = (moment.timestamp() - self.start) / self.span
        return self.x_min + share * (self.x_max - self.x_min)

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.y_max - share * (self.y_max - self.y_min)


def _line_and_dots(frame: _Frame, points, radius: float) -> str:
    coordinates = " ".join(f"{frame.x(m):.1f},{frame.y(v):.1f}" for m, v, _ in points)
    parts = [
        f'<polyline class="actuals" points="{coordinates}" fill="none" '
        f'stroke="{ACTUAL_COLOUR}" stroke-width="2"/>'
    ]
    for moment, value, is_latest in points:
        size = radius * 1.6 if is_latest else radius
        kind = "actual latest" if is_latest else "actual"
        parts.append(
            f'<circle class="{kind}" cx="{frame.x(moment):.1f}" cy="{frame.y(value):.1f}" '
            f'r="{size:.1f}" fill="{ACTUAL_COLOUR if not is_latest else "#173f6d"}">'
            f"<title>{moment:%Y-%m-%d}: {plain_number(value)}</title></circle>"
        )
    return "".join(parts)


def _svg_open(width: int, height: int, label: str, css_class: str = "chart") -> str:
    return (
        f'<svg class="{css_class}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">'
    )
