"""The timestamp format of public bodies."""

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second (``2024-01-15T10:31:00Z``)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
