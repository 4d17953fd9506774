"""The timestamp formats of public bodies (to the second) and of times inside events (to the microsecond).

Every body of the API and of a webhook spells a few times, and every command one or two, mostly of the last few
seconds: each second is spelt once while it is among the last few thousand asked for. ``isoformat`` and
``strftime`` spell it all by ``sprintf`` each time, five times the instructions of finding it again.
"""

from datetime import UTC, datetime
from functools import lru_cache


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second (``2024-01-15T10:31:00Z``): ``strftime("%Y-%m-%dT%H:%M:%SZ")`` of the
    time in UTC."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the gateway's connections read times in UTC already
        value = value.astimezone(UTC)
    return _second(value.year, value.month, value.day, value.hour, value.minute, value.second) + "Z"


def micro(at: datetime) -> str:
    """ISO 8601 UTC to the microsecond, always six digits, with a Z (``2024-01-15T10:31:00.000250Z``):
    ``isoformat(timespec="microseconds")`` of the time in UTC, its offset written Z."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    if at.year < 1000:  # isoformat pads the year to four digits, strftime's %Y does not
        return at.isoformat(timespec="microseconds")[:-6] + "Z"
    return f"{_second(at.year, at.month, at.day, at.hour, at.minute, at.second)}.{at.microsecond:06d}Z"


@lru_cache(maxsize=4096)
def _second(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str:
    # The year unpadded, as strftime's %Y writes it (below 1000 too).
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
