"""The sweeper: re-drives payments and refunds still pending well past the latest moment they should have been
decided.

A flushed Redis or a killed worker loses only a message, never the payment: the log still says it is owed.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import structlog
from psycopg_pool import AsyncConnectionPool

import ledger
from projections import payments, refunds

log = structlog.get_logger(__name__)


async def sweep_once(
    pool: AsyncConnectionPool[Any],
    actors: dict[str, dramatiq.Actor[Any, Any]],
    settings: Any,
    now: datetime | None = None,
) -> int:
    """Enqueue every overdue pending payment and refund once more; returns how many."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(milliseconds=settings.max_payment_delay_ms + settings.sweep_grace_ms)
    async with pool.connection() as conn:
        overdue = await payments.overdue(conn, cutoff)
    for payment_id, method in overdue:
        await asyncio.to_thread(actors["process_payment"].send, payment_id, method)
    refund_cutoff = now - timedelta(milliseconds=settings.max_refund_delay_ms + settings.sweep_grace_ms)
    async with pool.connection() as conn:
        overdue_refunds = await refunds.overdue(conn, refund_cutoff)
    for payment_id, refund_id in overdue_refunds:
        await asyncio.to_thread(actors["process_refund"].send, payment_id, refund_id)
    if overdue or overdue_refunds:
        log.info("sweeper.redriven", payments=len(overdue), refunds=len(overdue_refunds))
    return len(overdue) + len(overdue_refunds)


async def run(
    pool: AsyncConnectionPool[Any],
    actors: dict[str, dramatiq.Actor[Any, Any]],
    settings: Any,
    stop: asyncio.Event,
) -> None:
    interval = max(1.0, min(30.0, settings.sweep_grace_ms / 2000))

    async def sweep_forever() -> None:
        while not stop.is_set():
            await sweep_once(pool, actors, settings)
            await ledger.pause(stop, interval)

    await ledger.resilient("sweeper", sweep_forever, stop)
