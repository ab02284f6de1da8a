"""`uv run python -m benchmarks [--scale N] [--latency-ms MS]`: floor, full sync and reruns."""

import argparse
import sys
from pathlib import Path

from extract.ecosystems.settings import PARALLEL_REQUESTS
from extract.sandbox import SandboxScale

from .harness import DEFAULT_SCALE, DEFAULT_WORK_DIR, PROJECT_ROOT, Benchmark
from .report import render, write_results

DEFAULT_RESULTS = PROJECT_ROOT / "benchmarks" / "results.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time CS Goal Sync end to end against the floor on the sandbox.",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=DEFAULT_SCALE,
        help="KPIs the sandbox serves (one value driver per 4, one document per 20); "
        f"default {DEFAULT_SCALE:,}",
    )
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="markdown file to (re)write; '-' writes none",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="the sandbox answers every request this many ms late (default 0)",
    )
    parser.add_argument(
        "--rate", type=float, help="requests a second the sandbox accepts, then 429"
    )
    parser.add_argument(
        "--parallel-requests",
        type=int,
        default=PARALLEL_REQUESTS,
        help=f"requests at once the syncs may make (default {PARALLEL_REQUESTS}; 1 reads "
        "each listing sequentially)",
    )
    args = parser.parse_args(argv)
    if args.latency_ms < 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--latency-ms must be 0 or more and --rate above 0")
    if args.parallel_requests < 1:
        parser.error("--parallel-requests must be 1 or more")
    benchmark = Benchmark(
        SandboxScale.for_kpis(args.scale),
        args.work_dir.resolve(),
        latency_ms=args.latency_ms,
        rate=args.rate,
        parallel_requests=args.parallel_requests,
    )
    result = benchmark.run()
    print()
    print(render(result))
    if str(args.results) != "-":
        write_results(result, args.results)
        print(f"\nwritten to {args.results}")
    return 0 if result.consistent else 1


if __name__ == "__main__":
    sys.exit(main())
