"""The benchmark's table for people, and `benchmarks/results.md`."""

import os
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from .harness import CHANGED, FLOOR, FULL_SYNC, NO_CHANGE, SYNCS, BenchmarkResult, Measurement

GIB = 1024**3
NOTES_MARKER = "<!-- Notes below are written by hand; the benchmark keeps them on rewrite. -->"
STAGES = ("fetch+extract", "normalize", "load", "dbt", "activity")


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _mib(value: int) -> str:
    return f"{value / 1024**2:,.0f} MiB"


def _during(measurement: Measurement) -> str:
    stage = measurement.details.get("peak_stage")
    return f" ({stage})" if stage else ""


def machine() -> str:
    cores = os.cpu_count()
    memory = "?"
    cpu = platform.processor() or platform.machine()
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        memory = f"{int(meminfo[0].split()[1]) / 1024**2:.1f} GiB"
        models = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    except OSError:
        pass
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("dlt", "dbt-core", "dbt-duckdb", "duckdb", "pyarrow")
    )
    return (
        f"{cores} cores ({cpu}), {memory} memory, Python {platform.python_version()} "
        f"on {platform.system()}; {packages}"
    )


def stage_table(result: BenchmarkResult) -> list[str]:
    measurements = result.measurements
    floor = measurements[FLOOR].run.wall_seconds
    full = measurements[FULL_SYNC].run.wall_seconds
    lines = [
        "| run | wall s | × floor | % of full sync | fetch+extract s | normalize s | load s "
        "| dbt / SQL s | activity s | other s | records | records/s | peak RSS, whole tree "
        "| peak RSS, this run |",
        "|---|" + "---:|" * 13,
    ]
    for m in measurements.values():
        other = m.run.wall_seconds - sum(m.stages.values())
        lines.append(
            f"| {m.name} | {m.run.wall_seconds:.1f} | {m.run.wall_seconds / floor:.2f} "
            f"| {100 * m.run.wall_seconds / full:.0f} % | "
            + " | ".join(_seconds(m.stages.get(stage)) for stage in STAGES)
            + f" | {other:.1f} | {m.records:,} | {m.records_per_second:,.0f} "
            f"| {_mib(m.run.peak_tree_bytes)}{_during(m)} | {_mib(m.run.peak_command_bytes)} |"
        )
    return lines


def targets(result: BenchmarkResult) -> list[tuple[str, str, str, bool]]:
    m = result.measurements
    floor, full = m[FLOOR].run.wall_seconds, m[FULL_SYNC].run.wall_seconds
    peak = max(m[name].run.peak_tree_bytes for name in SYNCS if name in m)
    rows = [
        ("full sync vs the floor", "≤ 2×", f"{full / floor:.2f}×", full <= 2 * floor),
        ("full sync wall time", "≤ 60 s", f"{full:.1f} s", full <= 60),
        ("peak RSS of the whole tree during the syncs", "≤ 1 GiB", _mib(peak), peak <= GIB),
    ]
    for name, share in ((NO_CHANGE, 0.05), (CHANGED, 0.10)):
        if name in m:
            ratio = m[name].run.wall_seconds / full
            rows.append((name, f"≤ {share:.0%} of the full sync", f"{ratio:.1%}", ratio <= share))
    return rows


def latency_lines(result: BenchmarkResult) -> list[str]:
    """Each sync against the bound that latency sets: requests × latency / requests at once."""
    if not result.latency_ms:
        return []
    rate = f"{result.rate:g} requests/s" if result.rate else "none"
    lines = [
        f"Latency: every API answer {result.latency_ms:g} ms late; rate limit {rate}; "
        f"up to {result.parallel_requests} requests at once. Bound = answers of 200 × "
        f"{result.latency_ms:g} ms / {result.parallel_requests}.",
        "",
        "| run | answers of 200 | bound s | fetch+extract s | × bound | wall s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in SYNCS:
        if name not in result.measurements:
            continue
        m = result.measurements[name]
        bound = m.pages * result.latency_ms / 1000 / result.parallel_requests
        fetch = m.stages.get("fetch+extract", 0.0)
        ratio = f"{fetch / bound:.2f}" if bound else "–"
        lines.append(
            f"| {name} | {m.pages:,} | {bound:.1f} | {fetch:.1f} | {ratio} "
            f"| {m.run.wall_seconds:.1f} |"
        )
    return [*lines, ""]


def profile_line(measurement: Measurement) -> str:
    nodes = measurement.details["dbt_nodes"]
    if not nodes["count"]:
        return f"- {measurement.name}: no dbt build (nothing changed since the last one)"
    slowest = ", ".join(f"{name} {seconds:.1f}" for name, seconds in nodes["slowest"])
    return (
        f"- {measurement.name}: {nodes['count']} nodes, {nodes['seconds']:.1f} s in all; "
        f"slowest: {slowest}"
    )


def render(result: BenchmarkResult) -> str:
    scale = result.scale
    m = result.measurements
    lines = [
        f"Scale: {scale.kpis:,} KPIs, {scale.value_drivers:,} value drivers, "
        f"{scale.documents:,} documents (sandbox in a subprocess).",
        f"Machine: {machine()}.",
        "",
        *stage_table(result),
        "",
        "| target | goal | measured | met |",
        "|---|---|---:|---|",
        *[
            f"| {what} | {goal} | {got} | {'yes' if met else '**no**'} |"
            for what, goal, got, met in targets(result)
        ],
        "",
        "Stages: a sync's fetch+extract, normalize and load are dlt's trace steps (fetch and "
        "Arrow shaping happen inside dlt's extract step); dbt and activity are the job's "
        "`activity.run_stages`; other = process start, imports and bookkeeping. The floor's "
        "columns are its HTTP fetch, `read_json` and SQL. Peak RSS sums every process of the "
        "tree (harness, sandbox, the run and its children), sampled every 50 ms.",
        "",
        *latency_lines(result),
        "Server CPU (the sandbox generating pages): "
        + ", ".join(f"{x.name} {x.server_cpu_seconds:.1f} s" for x in m.values())
        + ".",
        "",
        "Slowest dbt nodes (seconds):",
    ]
    lines += [profile_line(m[name]) for name in SYNCS if name in m]
    lines += [
        "",
        "Consistency: "
        + (
            "rows counted = rows served in every run (less what slices read twice at "
            "their bounds); after the incremental rerun "
            "customer_goals and customer_goals_errors equal the floor's, built from "
            "scratch, row for row."
            if result.consistent
            else "PROBLEMS: " + "; ".join(result.problems)
        ),
    ]
    return "\n".join(lines)


def write_results(result: BenchmarkResult, path: Path) -> None:
    """Rewrite the measured part of `path`, keeping the hand-written notes below the marker."""
    notes = ""
    if path.exists():
        text = path.read_text()
        if NOTES_MARKER in text:
            notes = text.split(NOTES_MARKER, 1)[1]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        "# Benchmark results\n\n"
        f"Written by `uv run python -m benchmarks` on {stamp}.\n\n"
        f"{render(result)}\n\n{NOTES_MARKER}{notes or chr(10)}"
    )
    path.write_text(body)
