"""Public identifiers and the clock: the edge fills in what the pure deciders may not make up."""

import secrets
import string
from datetime import UTC, datetime

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """``prefix`` + 16 characters of [A-Za-z0-9] from the OS's cryptographic random source."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime) -> str:
    """The form timestamps take inside events: ISO 8601 UTC to the microsecond."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
