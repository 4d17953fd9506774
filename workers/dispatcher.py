"""The dispatcher: follows the log in commit order and enqueues the work each new event calls for.

Enqueuing is at least once (a crash between enqueue and checkpoint enqueues again); every actor is
idempotent, so a duplicate costs a little work and changes nothing.
"""

import asyncio
import random
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog
from psycopg_pool import AsyncConnectionPool

import ledger
from projections import checkpoints
from workers.payments import delay_ms

log = structlog.get_logger(__name__)
NAME = "dispatcher"

#: (actor name, args, delay in ms) for one job.
Job = tuple[str, tuple[Any, ...], int]
Route = Callable[[ledger.Recorded, Any, random.Random], list[Job]]


def _payment_created(event: ledger.Recorded, settings: Any, rng: random.Random) -> list[Job]:
    d = event.data
    return [("process_payment", (d["payment_id"], d["method"]), delay_ms(settings, rng))]


#: Event type → the jobs it calls for.
ROUTES: dict[str, Route] = {"payment.created.v1": _payment_created}


def jobs_for(events: list[ledger.Recorded], settings: Any, rng: random.Random) -> list[Job]:
    return [job for e in events if (route := ROUTES.get(e.type)) for job in route(e, settings, rng)]


async def dispatch_batch(
    pool: AsyncConnectionPool[Any],
    actors: dict[str, dramatiq.Actor[Any, Any]],
    settings: Any,
    batch: int = 1000,
) -> int:
    """Enqueue the jobs of the next batch of events, then advance the checkpoint; returns events read."""
    async with pool.connection() as conn:
        cursor = await checkpoints.load(conn, NAME)
        events = await ledger.read_all(conn, cursor, batch)
        if not events:
            return 0
        jobs = jobs_for(events, settings, random.SystemRandom())
        if jobs:
            await asyncio.to_thread(_enqueue, actors, jobs)
        async with conn.transaction():
            await checkpoints.advance(conn, NAME, cursor, events[-1])
        return len(events)


def _enqueue(actors: dict[str, dramatiq.Actor[Any, Any]], jobs: list[Job]) -> None:
    for name, args, delay in jobs:
        actors[name].send_with_options(args=args, delay=delay or None)


async def run(
    pool: AsyncConnectionPool[Any],
    actors: dict[str, dramatiq.Actor[Any, Any]],
    settings: Any,
    stop: asyncio.Event,
    poll_s: float = 1.0,
) -> None:
    """Dispatch until ``stop`` is set; one leader at a time, others stand by."""
    async with pool.connection() as listener:
        while not await ledger.try_lead(listener, NAME):
            try:
                await asyncio.wait_for(stop.wait(), poll_s)
                return
            except TimeoutError:
                continue
        log.info("dispatcher.leading")
        try:
            wakeup = await ledger.Wakeup.listen(listener)
            while not stop.is_set():
                try:
                    if not await dispatch_batch(pool, actors, settings):
                        await wakeup.wait(poll_s)
                except Exception:  # Redis or PostgreSQL away: nothing is lost, the checkpoint did not move
                    log.exception("dispatcher.batch_failed")
                    await asyncio.sleep(poll_s)
        finally:
            await ledger.step_down(listener, NAME)
