"""Dashboard passwords: argon2id hashes (argon2-cffi), checked off the event loop."""

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
#: Checked when the email is unknown or has no password, so a sign-in takes as long either way.
_DUMMY = _HASHER.hash("paygate: no such merchant")
#: Shortest password `merchant create` accepts.
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


async def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: there is none, and nothing matches)."""

    def check() -> bool:
        try:
            return _HASHER.verify(stored or _DUMMY, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
