"""Built-in sandbox Ecosystems server: deterministic generated data over loopback HTTP."""

from extract.sandbox.api import DEFAULT_NO_SCOPE_TOKEN, DEFAULT_TOKEN
from extract.sandbox.data import (
    DEFAULT_SEED,
    SandboxData,
    SandboxScale,
    gainsight_seed_rows,
    served_counts,
    write_seeds,
)
from extract.sandbox.faults import Fault
from extract.sandbox.process import SandboxProcess
from extract.sandbox.server import SandboxServer

__all__ = [
    "DEFAULT_NO_SCOPE_TOKEN",
    "DEFAULT_SEED",
    "DEFAULT_TOKEN",
    "Fault",
    "SandboxData",
    "SandboxProcess",
    "SandboxScale",
    "SandboxServer",
    "gainsight_seed_rows",
    "served_counts",
    "write_seeds",
]
