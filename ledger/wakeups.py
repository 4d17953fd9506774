"""Coalesced wake-ups for log readers: one NOTIFY for many appends, sent after they commit.

A NOTIFY inside the appending transaction makes every such commit queue on PostgreSQL's one notify-queue lock,
so appends ran at a quarter of a plain INSERT. Instead an append marks its connection here; once that
connection has left its transaction (committed or rolled back), a ``Nudger`` sends one ``pg_notify`` on a
pooled connection of its own for everything that finished meanwhile, at most once per ``interval_s`` (5 ms). Readers
still poll as the fallback, so a wake-up that is lost (or a spurious one after a rollback) costs at most a poll.
"""

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from ledger import statements

#: Channel readers LISTEN on.
CHANNEL = "events"
#: A connection still in a transaction this long after its append is given up on (it is probably serving the
#: next request by now): the wake-up goes out anyway, and the reader's poll covers a commit that came later.
MAX_WAIT_S = 0.2
_IN_TRANSACTION = (TransactionStatus.INTRANS, TransactionStatus.ACTIVE, TransactionStatus.INERROR)


class Nudger:
    """Sends the coalesced wake-up of one process's appends, through ``pool``."""

    def __init__(self, pool: Callable[[], AsyncConnectionPool[Any] | None], interval_s: float = 0.005) -> None:
        self._pool = pool
        self._interval = interval_s
        self._waiting: dict[int, tuple[psycopg.AsyncConnection[Any], float]] = {}
        self._kick: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def appended(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """``conn`` appended: wake readers once its transaction is over."""
        self._waiting.setdefault(id(conn), (conn, time.monotonic()))
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._kick = asyncio.Event()
            self._task = loop.create_task(self._run(self._kick))
        assert self._kick is not None
        self._kick.set()

    async def _run(self, kick: asyncio.Event) -> None:
        while True:
            await kick.wait()
            kick.clear()
            while self._waiting:
                await asyncio.sleep(self._interval)
                now = time.monotonic()
                done = [
                    k
                    for k, (c, since) in self._waiting.items()
                    if c.closed or c.info.transaction_status not in _IN_TRANSACTION or now - since > MAX_WAIT_S
                ]
                if done:
                    for k in done:
                        del self._waiting[k]
                    await self._notify()

    async def _notify(self) -> None:
        pool = self._pool()
        if pool is None:
            return
        with contextlib.suppress(Exception):  # only a hint: readers poll anyway
            async with pool.connection(timeout=1) as conn:
                await statements.fetch(conn, "SELECT pg_notify(%s, '')", (CHANNEL,))
                self.sent += 1


_NUDGERS: "weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], Nudger]" = weakref.WeakKeyDictionary()


def attach(conn: psycopg.AsyncConnection[Any], nudger: Nudger) -> None:
    """Appends on ``conn`` wake readers through ``nudger`` (a connection attached to none wakes nobody)."""
    _NUDGERS[conn] = nudger


def appended(conn: psycopg.AsyncConnection[Any]) -> None:
    """Called by ``ledger.append`` after a successful append on ``conn``."""
    nudger = _NUDGERS.get(conn)
    if nudger is not None:
        nudger.appended(conn)
