"""The timestamp format of public bodies."""

from datetime import UTC, datetime
from functools import lru_cache


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second (``2024-01-15T10:31:00Z``): ``strftime("%Y-%m-%dT%H:%M:%SZ")`` of the
    time in UTC. Every body of the API and of a webhook spells a few, mostly of the last few seconds: each second
    is spelt once while it is among the last few thousand asked for (``isoformat`` spells it by ``sprintf``, five
    times the instructions of finding it again)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the gateway's connections read times in UTC already
        value = value.astimezone(UTC)
    return _spelt(value.year, value.month, value.day, value.hour, value.minute, value.second)


@lru_cache(maxsize=4096)
def _spelt(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str:
    # The year unpadded, as strftime's %Y writes it (below 1000 too).
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
