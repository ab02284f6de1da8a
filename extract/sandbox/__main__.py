"""`python -m extract.sandbox`: serve the sandbox until terminated, or write the seeds."""

import argparse
import math
import os
import signal
import sys
import threading
from pathlib import Path

from extract.sandbox.api import DEFAULT_NO_SCOPE_TOKEN, DEFAULT_TOKEN
from extract.sandbox.data import DEFAULT_SEED, SandboxScale, write_seeds
from extract.sandbox.process import TOKEN_ENV, URL_PREFIX
from extract.sandbox.server import SandboxServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m extract.sandbox",
        description="Serve the built-in sandbox Ecosystems API on loopback.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--token",
        help=f"the Bearer token to accept (default: ${TOKEN_ENV} "
        f"or {DEFAULT_TOKEN!r}); the environment keeps it out of `ps`",
    )
    parser.add_argument(
        "--no-scope-token",
        action="append",
        dest="no_scope_tokens",
        help=f"a token answered with 403 forbidden (repeatable; default "
        f"{DEFAULT_NO_SCOPE_TOKEN!r}; an empty one means none)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale-kpis", type=int, help="KPIs; documents and drivers follow")
    parser.add_argument("--documents", type=int)
    parser.add_argument("--value-drivers", type=int)
    parser.add_argument("--kpis", type=int)
    parser.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=0.0,
        help="answer every API request this many milliseconds late (default 0)",
    )
    parser.add_argument(
        "--rate",
        type=_positive,
        help="requests a second the API accepts; past it, 429 with Retry-After (default: no limit)",
    )
    parser.add_argument(
        "--write-seeds",
        type=Path,
        metavar="DIR",
        help="write company.csv and gs_user.csv into DIR and exit",
    )
    return parser


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative: give 0 or more")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive: give a number above 0")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _scale(args: argparse.Namespace) -> SandboxScale:
    scale = SandboxScale.for_kpis(args.scale_kpis) if args.scale_kpis else SandboxScale()
    return SandboxScale(
        documents=args.documents or scale.documents,
        value_drivers=args.value_drivers or scale.value_drivers,
        kpis=args.kpis or scale.kpis,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.write_seeds:
        for path in write_seeds(args.write_seeds):
            print(path)
        return 0
    no_scope = [t for t in args.no_scope_tokens or [DEFAULT_NO_SCOPE_TOKEN] if t]
    token = args.token or os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
    server = SandboxServer(
        scale=_scale(args),
        token=token,
        seed=args.seed,
        no_scope_tokens=no_scope,
        port=args.port,
        latency_ms=args.latency_ms,
        rate=args.rate,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"{URL_PREFIX}{server.start()}", flush=True)
    try:
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
