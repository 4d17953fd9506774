"""Answering fast and truthfully while the database is away.

While a connection has just failed, requests wait only ``db_down_wait_s`` for a pooled connection instead of the
pool's full timeout, and every outage becomes a 503 with the error body and ``Retry-After``. A request whose
connection was lost after it sent an append cannot know whether its transaction committed: it gets 503
``COMMIT_UNKNOWN``, and retrying with the same ``Idempotency-Key`` returns the committed answer, or runs it once.
"""

import asyncio
import time
import weakref
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
        self._gates: weakref.WeakKeyDictionary[AsyncConnectionPool[Any], asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def down(self) -> bool:
        return self.failed_at > self.served_at and time.monotonic() - self.failed_at < DOWN_FOR_S

    def trip(self) -> None:
        if not self.down:
            log.warning("database.down")
        self.failed_at = time.monotonic()

    def connection(self, pool: AsyncConnectionPool[Any]) -> "Lease":
        if (gate := self._gates.get(pool)) is None:
            # A connection is left to the pool's other users in the process (the wake-up, the payment watcher,
            # health checks), so that they seldom wait in the pool's own queue either.
            gate = self._gates[pool] = asyncio.Semaphore(max(1, pool.max_size - 1))
        return Lease(self, pool, gate)

    def failed(self, exc: BaseException, asked_at: float) -> None:
        """A request that asked for a connection at ``asked_at`` met ``exc``: an outage trips the breaker."""
        saturated = isinstance(exc, PoolTimeout) and self.served_at > asked_at
        if is_outage(exc) and not saturated:
            self.trip()


class Lease:
    """A pooled connection for one request, through the breaker: the pool's ``connection()`` without its
    generator frames and its ``commit()`` of a connection in autocommit, which has nothing to commit (a
    transaction left open is rolled back by the pool when the connection comes back).

    Requests queue for a connection at ``gate`` (a seat for all but one of the connections the pool may open),
    not in the pool's own queue: a client waiting there costs a task and a timer, two conditions and their locks
    (``asyncio.wait_for`` in ``psycopg_pool``), and under load most requests waited there. The gate's wait is one
    future and, only when no seat is free, one timer.
    """

    __slots__ = ("_asked_at", "_breaker", "_conn", "_gate", "_pool")

    def __init__(self, breaker: Breaker, pool: AsyncConnectionPool[Any], gate: asyncio.Semaphore) -> None:
        self._breaker = breaker
        self._pool = pool
        self._gate = gate

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        breaker = self._breaker
        self._asked_at = asked_at = time.monotonic()
        wait = breaker.down_wait_s if breaker.down else breaker.normal_wait_s
        try:
            if self._gate.locked():
                try:
                    async with asyncio.timeout(wait):
                        await self._gate.acquire()
                except TimeoutError:
                    raise PoolTimeout(f"couldn't get a connection after {wait:.2f} sec") from None
            else:
                await self._gate.acquire()  # a free seat: taken without waiting (and without a timer)
        except Exception as exc:
            breaker.failed(exc, asked_at)
            raise
        try:
            conn: psycopg.AsyncConnection[Any] = await self._pool.getconn(
                timeout=max(0.0, wait - (time.monotonic() - asked_at))
            )
        except BaseException as exc:
            self._gate.release()
            if isinstance(exc, Exception):
                breaker.failed(exc, asked_at)
            raise
        breaker.served_at = time.monotonic()
        self._conn = conn
        return conn

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            await self._pool.putconn(self._conn)
        except Exception as returned:
            self._breaker.failed(returned, self._asked_at)
            raise
        finally:
            self._gate.release()
        if isinstance(exc, Exception):  # not a cancelled request (CancelledError): that is no outage
            self._breaker.failed(exc, self._asked_at)


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
