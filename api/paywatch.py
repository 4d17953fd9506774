"""One poller per API process that wakes the server-sent-event streams of the payments they follow.

Why a poller: a ``NOTIFY`` (or any other work) per append would tax every write to the event store for the
few payments a checkout page is waiting on. Instead each API process reads the ``payments`` rows of the ids
its open streams follow, in one indexed query every ``interval_s`` while any stream is open, and nothing at
all otherwise. Every process polls the shared table, so it works with any number of API processes.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import structlog
from psycopg_pool import AsyncConnectionPool

from projections import payments

log = structlog.get_logger(__name__)

#: How often the watched rows are read (seconds): the most a decision waits before its page hears of it.
INTERVAL_S = 0.1


class PaymentWatcher:
    """Streams register the payment they follow with ``watch``; the shared loop sets their event on a change."""

    def __init__(self, pool: Callable[[], AsyncConnectionPool[Any]], interval_s: float = INTERVAL_S) -> None:
        self._pool = pool
        self._interval_s = interval_s
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._seen: dict[str, tuple[str, datetime]] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def watch(self, payment_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the payment's row changes (clear it before waiting again)."""
        changed = asyncio.Event()
        self._waiting.setdefault(payment_id, set()).add(changed)
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        try:
            yield changed
        finally:
            waiting = self._waiting.get(payment_id, set())
            waiting.discard(changed)
            if not waiting:
                self._waiting.pop(payment_id, None)
                self._seen.pop(payment_id, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(self._interval_s)
                ids = list(self._waiting)
                try:
                    async with self._pool().connection(timeout=2) as conn:
                        rows = await payments.versions(conn, ids)
                except Exception as exc:  # the database is away: streams wait on, pages keep their own fallback
                    log.warning("payment_watch_failed", error=str(exc))
                    continue
                for payment_id, version in rows.items():
                    if self._seen.get(payment_id) != version:
                        self._seen[payment_id] = version
                        for changed in self._waiting.get(payment_id, ()):
                            changed.set()
        finally:
            self._task = None
