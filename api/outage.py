"""Answering fast and truthfully while the database is away.

While a connection has just failed, requests wait only ``db_down_wait_s`` for a pooled connection instead of the
pool's full timeout, and every outage becomes a 503 with the error body and ``Retry-After``. A request whose
connection was lost after it sent an append cannot know whether its transaction committed: it gets 503
``COMMIT_UNKNOWN``, and retrying with the same ``Idempotency-Key`` returns the committed answer, or runs it once.
"""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout

import ledger

log = structlog.get_logger(__name__)
RETRY_AFTER_S = 2
#: How long after the last failure the database still counts as down.
DOWN_FOR_S = 5.0


class Breaker:
    """Remembers when the database last failed; while it is down, waits for a connection are short.

    A connection handed out after the last failure ends the outage at once. A pool timeout while others got
    connections is a saturated pool (a burst, a slow query), not an outage: counting it would keep the waits
    short exactly while the pool is still growing back after a restart, and so keep answering 503.
    """

    def __init__(self, down_wait_s: float, normal_wait_s: float = 30.0) -> None:
        self.down_wait_s = down_wait_s
        self.normal_wait_s = normal_wait_s
        self.failed_at = float("-inf")
        self.served_at = float("-inf")

    @property
    def down(self) -> bool:
        return self.failed_at > self.served_at and time.monotonic() - self.failed_at < DOWN_FOR_S

    def trip(self) -> None:
        if not self.down:
            log.warning("database.down")
        self.failed_at = time.monotonic()

    @asynccontextmanager
    async def connection(self, pool: AsyncConnectionPool[Any]) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        asked_at = time.monotonic()
        try:
            async with pool.connection(timeout=self.down_wait_s if self.down else self.normal_wait_s) as conn:
                self.served_at = time.monotonic()
                yield conn
        except Exception as exc:
            saturated = isinstance(exc, PoolTimeout) and self.served_at > asked_at
            if is_outage(exc) and not saturated:
                self.trip()
            raise


def is_outage(exc: BaseException) -> bool:
    """A lost or refused connection (not a query's own error, such as a lock timeout)."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        state = exc.sqlstate or ""
        return not state or state.startswith("08") or state.startswith("57P")
    return False


def outcome_unknown() -> bool:
    """Whether this request sent an append before the outage (its commit may have happened)."""
    return ledger.APPENDED.get()
