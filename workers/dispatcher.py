"""The dispatcher: follows the log in commit order and enqueues the work each new event calls for.

Enqueuing is at least once (a crash between enqueue and checkpoint enqueues again); every actor is
idempotent, so a duplicate costs a little work and changes nothing.
"""

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any, cast

import dramatiq
import structlog
from psycopg_pool import AsyncConnectionPool

import ledger
from commands import webhook
from projections import checkpoints, quarantine
from workers import fanout, refunds
from workers.broker import Broker
from workers.payments import delay_ms

log = structlog.get_logger(__name__)
NAME = "dispatcher"
#: Events read per batch.
BATCH = 1000
#: After a batch that was not full, wait up to this long for more events (``ledger.follower.GATHER_PER_EVENT_S``
#: for each event the batch held): a batch pays its leadership check, reads, enqueue round trip and checkpoint
#: however few events it holds. A lone event is dispatched at once; under load an event waits at most this long.
GATHER_S = 0.01

#: (actor name, args, delay in ms) for one job.
Job = tuple[str, tuple[Any, ...], int]
Route = Callable[[ledger.Recorded, Any, random.Random], list[Job]]


def _payment_created(event: ledger.Recorded, settings: Any, rng: random.Random) -> list[Job]:
    """A decision after the processor's delay; the batch's decisions with the same delay go together."""
    d = event.data
    return [("process_payments", ([[d["payment_id"], d["method"], log_ids(event)]],), delay_ms(settings, rng))]


def _refund_requested(event: ledger.Recorded, settings: Any, rng: random.Random) -> list[Job]:
    d = event.data
    return [("process_refund", (d["payment_id"], d["refund_id"]), refunds.delay_ms(settings, rng))]


def _webhook_owed(event: ledger.Recorded, settings: Any, rng: random.Random) -> list[Job]:
    """A delivery's first attempt, or its first after a manual retry: at once, for the version just written.
    (Deliveries the dispatcher schedules itself it enqueues as it commits them; see ``dispatch_batch``.)"""
    if event.metadata.get("actor") == fanout.ACTOR:
        return []
    return [("deliver_webhooks", ([(event.data["delivery_id"], event.stream_version)],), 0)]


#: Event type → the jobs it calls for.
ROUTES: dict[str, Route] = {
    "payment.created.v1": _payment_created,
    "refund.requested.v1": _refund_requested,
    "webhook.scheduled.v1": _webhook_owed,
    "webhook.retry_requested.v1": _webhook_owed,
}


#: The types whose data and metadata the dispatcher reads: those it routes and those webhooks are sent for. Of
#: the others (most of the log: a delivery's attempts, say) it needs only their place in it.
WANTED = frozenset(ROUTES) | frozenset(webhook.SOURCES)


#: Actors whose one argument is a list: their jobs of a batch with the same delay go together, this many items a
#: message.
BATCHED: dict[str, int] = {"deliver_webhooks": 100, "process_payments": 100}


def jobs_for(events: list[ledger.Recorded], settings: Any, rng: random.Random) -> list[Job]:
    return coalesce([job for e in events if (route := ROUTES.get(e.type)) for job in route(e, settings, rng)])


def coalesce(jobs: list[Job]) -> list[Job]:
    """The jobs of ``BATCHED`` actors with the same delay merged into as few messages as their batch size allows."""
    out: list[Job] = []
    items: dict[tuple[str, int], list[Any]] = {}
    for name, args, delay in jobs:
        if name in BATCHED:
            items.setdefault((name, delay), []).extend(args[0])
        else:
            out.append((name, args, delay))
    for (name, delay), merged in items.items():
        size = BATCHED[name]
        out.extend((name, (merged[i : i + size],), delay) for i in range(0, len(merged), size))
    return out


async def dispatch_batch(
    pool: AsyncConnectionPool[Any],
    actors: dict[str, dramatiq.Actor[Any, Any]],
    settings: Any,
    batch: int = BATCH,
    epoch: int | None = None,
) -> int:
    """Schedule the webhook deliveries the next batch of events owes, enqueue its jobs (the first attempts of
    those deliveries among them), then advance the checkpoint; returns events read."""
    async with pool.connection() as conn:
        cursor = await checkpoints.load(conn, NAME)
        events = await ledger.read_all(conn, cursor, batch, types=WANTED)
        if not events:
            return 0
        # A crash between this commit and the enqueue below loses only the first attempts' messages: the
        # retry scheduler finds them due in webhook_logs and enqueues them after WEBHOOK_REDRIVE_S.
        # An event it cannot handle is quarantined, never left to stall the log for ever.
        jobs = coalesce(
            await quarantine.apply_all(conn, NAME, events, lambda c, es: follow(c, es, settings), one_write=True)
        )
        if jobs:
            await asyncio.to_thread(_enqueue, actors, jobs, log_contexts(events))
        # One statement, so no transaction around it: it moves the checkpoint or changes nothing.
        if not await checkpoints.advance(conn, NAME, cursor, events[-1], epoch) and epoch is not None:
            raise ledger.LostLeadership(NAME)  # a newer leader took over: what we enqueued is a duplicate
        return len(events)


async def follow(conn: Any, events: Sequence[ledger.Recorded], settings: Any) -> list[Job]:
    """Schedule the webhook deliveries ``events`` owe; returns the jobs they call for (their first attempts
    among them). Its one write, the deliveries' append, comes last: whatever fails before it wrote nothing."""
    batch = list(events)
    routed = jobs_for(batch, settings, random.SystemRandom())
    scheduled = await fanout.schedule(conn, batch)
    owed: list[Job] = [("deliver_webhooks", ([(d, 1) for d in scheduled],), 0)] if scheduled else []
    return owed + routed


def log_contexts(events: list[ledger.Recorded]) -> dict[str, dict[str, Any]]:
    """The ids to log with each job, by the job's first argument (a payment id): the request that caused it, so a
    payment's lines can be followed from the API through the worker (its correlation id is the request id)."""
    return {e.data["payment_id"]: ids for e in events if (ids := log_ids(e))}


def log_ids(event: ledger.Recorded) -> dict[str, Any] | None:
    """The ids to log with the jobs of a payment's event (None: not a payment's, or no request behind it)."""
    if not ((payment_id := event.data.get("payment_id")) and (request_id := event.metadata.get("request_id"))):
        return None
    ids = {"payment_id": payment_id, "correlation_id": request_id}
    if merchant_id := event.data.get("merchant_id"):
        ids["merchant_id"] = merchant_id
    return ids


def _enqueue(
    actors: dict[str, dramatiq.Actor[Any, Any]], jobs: list[Job], contexts: dict[str, dict[str, Any]] | None = None
) -> None:
    broker = cast(Broker, next(iter(actors.values())).broker)  # workers.broker.make_broker's
    with broker.batch():  # one round trip for the whole batch
        for name, args, delay in jobs:
            ctx = (contexts or {}).get(args[0]) if args and isinstance(args[0], str) else None
            actors[name].send_with_options(args=args, kwargs={"log_ctx": ctx} if ctx else None, delay=delay or None)


async def run(
    pool: AsyncConnectionPool[Any],
    actors: dict[str, dramatiq.Actor[Any, Any]],
    settings: Any,
    stop: asyncio.Event,
    poll_s: float = 1.0,
) -> None:
    """Dispatch until ``stop`` is set; one leader at a time, others stand by. A lost Redis or PostgreSQL moves
    nothing (the checkpoint stays), and ``ledger.follow`` retries with backoff."""

    async def claim(conn: Any) -> int:
        return await checkpoints.claim(conn, [NAME])

    async def batch(epoch: int) -> int:
        return await dispatch_batch(pool, actors, settings, epoch=epoch)

    await ledger.follow(pool, NAME, stop, batch, poll_s=poll_s, claim=claim, fill=(BATCH, GATHER_S))
