"""The one clock: now as an aware UTC instant, and how activity tables store an instant."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def stored_instant(moment: datetime) -> datetime:
    """Naive UTC, the activity tables' TIMESTAMP convention (a naive value is UTC already)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
