"""`uv run python -m benchmarks [--scale N]`: floor, full sync and reruns at N KPIs."""

import argparse
import sys
from pathlib import Path

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
    args = parser.parse_args(argv)
    benchmark = Benchmark(SandboxScale.for_kpis(args.scale), args.work_dir.resolve())
    result = benchmark.run()
    print()
    print(render(result))
    if str(args.results) != "-":
        write_results(result, args.results)
        print(f"\nwritten to {args.results}")
    return 0 if result.consistent else 1


if __name__ == "__main__":
    sys.exit(main())
