"""A full disk: recognised in any failure, reported in one line, and room kept to record it.

A run keeps a small reserve file beside the database. When the disk fills up, the run
deletes the reserve so that its Failed row can still be written, and the next run (on a
disk with space again) makes a new one.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .paths import reserve_path

RESERVE_BYTES = 8 * 1024 * 1024  # what recording a failed run needs, with room to spare
# strerror of ENOSPC, EFBIG and EDQUOT, as DuckDB, dlt and Python put them in messages
_FULL_TEXTS = ("no space left on device", "file too large", "disk quota exceeded")


def disk_full(message: str) -> bool:
    """Whether a failure's one-line message comes from a full disk (any layer's wording)."""
    return any(text in message.lower() for text in _FULL_TEXTS)


def disk_full_reason(database: Path) -> str:
    return (
        f"the disk holding {database.parent} is full (no space left on device): "
        "free space there, then run again"
    )


class DiskReserve:
    """The reserve file of one run; `release` frees its space for the run's last writes."""

    def __init__(self, database: Path) -> None:
        self.path = reserve_path(database)

    def fill(self) -> None:
        """Make the reserve; on a disk already too full, go on without one."""
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            try:
                os.posix_fallocate(descriptor, 0, RESERVE_BYTES)
            finally:
                os.close(descriptor)
        except OSError:
            self.release()

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


@contextmanager
def disk_reserve(database: Path) -> Iterator[DiskReserve]:
    reserve = DiskReserve(database)
    reserve.fill()
    try:
        yield reserve
    finally:
        reserve.release()
