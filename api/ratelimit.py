"""Counting failed authentications in Redis (shared by every API process), with the `limits` package.

A name is anything counted: ``"key:<api key>"``, ``"addr:<client address>"``. ``blocked`` tells whether any
of some names used up its allowance (and for how long), ``failed`` counts one failure against each. Names are
hashed, so a client's arbitrary key never becomes an arbitrarily long Redis key.
"""

import hashlib
import math
import time
from collections.abc import Sequence

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from api.expiring import MISSING, Expiring

#: Most names remembered as not exhausted at once.
MAX_CLEAN = 10_000


class TooManyFailures(Exception):
    """Too many failed attempts: answer 429 with ``Retry-After: retry_after``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed authentication attempts; try again later")
        self.retry_after = retry_after


def storage_uri(redis_url: str) -> str:
    """The `limits` URI of a Redis URL (``redis://``, ``rediss://`` or ``unix://``)."""
    if redis_url.startswith("unix://"):
        return "async+redis+" + redis_url
    return "async+" + redis_url


class FailureLimiter:
    """At most ``per_minute`` failures per name in any sliding minute.

    A name found not exhausted is taken as such for ``clean_s`` without asking Redis again (the two lookups
    were the hot path's only Redis round trips), until this process counts a failure against it. So a name
    can only stay wrongly clean in a process that saw no failure of it: one more try per other API process,
    for at most ``clean_s``, after another process exhausted it.
    """

    def __init__(self, redis_url: str, per_minute: int, *, prefix: str = "paygate-auth", clean_s: float = 1.0) -> None:
        storage = RedisStorage(storage_uri(redis_url), implementation="redispy", key_prefix=prefix)
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerMinute(per_minute)
        #: Names recently found not exhausted (the value is unused).
        self._clean: Expiring[bool] = Expiring(clean_s, MAX_CLEAN)

    @staticmethod
    def _id(name: str) -> str:
        return hashlib.sha256(name.encode()).hexdigest()[:32]

    async def blocked(self, names: Sequence[str]) -> int | None:
        """Seconds until every one of ``names`` may fail again, or None if none of them is exhausted."""
        waits = []
        for name in names:
            if self._clean.get(name) is not MISSING:
                continue
            if await self._limiter.test(self._item, self._id(name)):
                self._clean.put(name, True)
                continue
            stats = await self._limiter.get_window_stats(self._item, self._id(name))
            waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return max(waits) if waits else None

    async def failed(self, names: Sequence[str]) -> None:
        """Count one failure against each of ``names`` (past the allowance it stays exhausted)."""
        for name in names:
            self._clean.discard(name)
            await self._limiter.hit(self._item, self._id(name))
