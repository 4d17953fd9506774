"""The webhook retry scheduler: enqueues every delivery attempt that the database says is due.

Retries live in `webhook_logs.next_retry_at`, never only in Redis: a flushed Redis, a restarted worker or a
lost message costs at most ``webhook_redrive_s`` of delay, because the attempt stays due until it is recorded.
One scheduler leads at a time (an advisory lock); the others stand by.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import dramatiq
import structlog
from psycopg_pool import AsyncConnectionPool

import ledger
from projections import webhook_logs
from workers import leases

log = structlog.get_logger(__name__)
NAME = "webhook-scheduler"
#: Longest sleep between two looks at the table; a known retry time wakes the loop sooner.
POLL_S = 1.0
#: Rows read per query while paging through what is due.
PAGE = 1000
#: Deliveries named in one message.
BATCH = 100


class Scheduler:
    """Remembers what it enqueued recently, so an attempt in flight is not enqueued again every tick."""

    def __init__(self, actors: dict[str, dramatiq.Actor[Any, Any]], settings: Any) -> None:
        self.actors = actors
        self.redrive_s = float(settings.webhook_redrive_s)
        self.sent: dict[tuple[str, int], float] = {}
        self.swept = time.monotonic()

    async def tick(self, pool: AsyncConnectionPool[Any], now: datetime | None = None) -> int:
        """Enqueue what is due and was not enqueued in the last ``redrive_s``; returns how many."""
        now = now or datetime.now(UTC)
        clock = time.monotonic()
        due: list[tuple[str, int]] = []
        after = None
        async with pool.connection() as conn:
            while page := await webhook_logs.due(conn, now, grace_s=self.redrive_s, after=after, limit=PAGE):
                due.extend((delivery_id, version) for delivery_id, version, _ in page)
                after = (page[-1][2], page[-1][0])
                if len(page) < PAGE:
                    break
            if clock - self.swept >= self.redrive_s:  # claims that stale are as good as none: keep the table small
                await leases.sweep(conn, now, self.redrive_s)
                self.swept = clock
        fresh = [key for key in due if clock - self.sent.get(key, -self.redrive_s) >= self.redrive_s]
        if fresh:
            await asyncio.to_thread(self._enqueue, fresh)
        self.sent = {key: self.sent.get(key, clock) for key in due}  # forget what is no longer due
        for key in fresh:
            self.sent[key] = clock
        return len(fresh)

    def _enqueue(self, keys: list[tuple[str, int]]) -> None:
        for i in range(0, len(keys), BATCH):
            self.actors["deliver_webhooks"].send(keys[i : i + BATCH])

    async def wait_s(self, pool: AsyncConnectionPool[Any]) -> float:
        """How long to sleep: until the soonest retry falls due, at most ``POLL_S``."""
        now = datetime.now(UTC)
        async with pool.connection() as conn:
            soonest = await webhook_logs.next_due(conn, now)
        if soonest is None:
            return POLL_S
        return min(POLL_S, max(0.0, (soonest - now).total_seconds()) + 0.005)


async def run(
    pool: AsyncConnectionPool[Any],
    actors: dict[str, dramatiq.Actor[Any, Any]],
    settings: Any,
    stop: asyncio.Event,
) -> None:
    """Enqueue due attempts until ``stop`` is set; one leader at a time (what is due stays due through any
    outage: ``ledger.follow`` retries with backoff)."""
    scheduler = Scheduler(actors, settings)

    async def batch(_epoch: int) -> int:
        if sent := await scheduler.tick(pool):
            log.info("webhook_scheduler.enqueued", deliveries=sent)
        return 0  # then wait until the soonest retry is due

    async def idle_s() -> float:
        return await scheduler.wait_s(pool)

    await ledger.follow(pool, NAME, stop, batch, poll_s=POLL_S, wake_on_events=False, idle_s=idle_s)
