"""Public identifiers and the clock: the edge fills in what the pure deciders may not make up."""

import secrets
import string
from datetime import UTC, datetime

from projections.timefmt import micro

_ALPHABET = string.ascii_letters + string.digits
#: Random bytes below 248 (4 × 62) map evenly onto the alphabet; the 8 above are dropped, so each character
#: stays equally likely. One translate instead of a secrets.choice per character (a tenth of the CPU).
_EVEN = 4 * len(_ALPHABET)
_TO_CHAR = bytes.maketrans(bytes(range(_EVEN)), (_ALPHABET * 4).encode())
_UNEVEN = bytes(range(_EVEN, 256))


def new_id(prefix: str) -> str:
    """``prefix`` + 16 characters of [A-Za-z0-9] from the OS's cryptographic random source."""
    chars = b""
    while len(chars) < 16:
        chars += secrets.token_bytes(20).translate(_TO_CHAR, _UNEVEN)
    return prefix + chars[:16].decode()


def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime) -> str:
    """The form timestamps take inside events: ISO 8601 UTC to the microsecond."""
    return micro(at)
