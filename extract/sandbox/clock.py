"""Timestamps of the sandbox: integer UTC seconds rendered as ISO-8601 text in mixed offsets."""

import re
from datetime import UTC, date, datetime, timedelta, timezone

BASE_START = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
BASE_END = int(datetime(2026, 10, 31, tzinfo=UTC).timestamp())
# Mutation round r happens on day MUTATION_DAY0 + r - 1, after every base record.
MUTATION_DAY0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())

# (seconds east of UTC, suffix). The same instant is written differently on purpose:
# clients must compare instants, never text.
# Sixteen entries so that four random bits pick one.
OFFSETS: tuple[tuple[int, str], ...] = (
    *[(0, "Z")] * 10,
    (3600, "+01:00"),
    (3600, "+01:00"),
    (-18000, "-05:00"),
    (-18000, "-05:00"),
    (19800, "+05:30"),
    (0, "+00:00"),
)

UTC_Z = OFFSETS[0]

# Lookup tables make rendering a few string concatenations instead of a datetime call:
# the 1M-KPI benchmark renders two timestamps per record.
OFFSET_SHIFTS = tuple(shift for shift, _ in OFFSETS)
OFFSET_SUFFIXES = tuple(suffix for _, suffix in OFFSETS)
EPOCH = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())  # day 0 of DAYS
DAYS: tuple[str, ...] = tuple(
    (date(2025, 1, 1) + timedelta(days=day)).isoformat() + "T" for day in range(4 * 366)
)
TIMES_OF_DAY: tuple[str, ...] = tuple(
    f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)
)
_SPACE_OFFSET = re.compile(r"(?<=\d) (\d\d:?\d\d)$")


def render(instant: int, offset: tuple[int, str]) -> str:
    """ISO-8601 text of `instant` (UTC seconds) written in the given offset."""
    shift, suffix = offset
    day, second = divmod(instant + shift - EPOCH, 86400)
    if 0 <= day < len(DAYS):
        return DAYS[day] + TIMES_OF_DAY[second] + suffix
    local = datetime.fromtimestamp(instant, timezone(timedelta(seconds=shift)))
    return local.strftime("%Y-%m-%dT%H:%M:%S") + suffix


def parse_instant_us(text: str) -> int:
    """Microseconds since the epoch of an ISO-8601 timestamp; a naive one is read as UTC."""
    # An unencoded "+01:00" in a query string arrives as " 01:00"; read it as meant.
    text = _SPACE_OFFSET.sub(r"+\1", text.strip())
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
