"""The projection runner: applies events to async read models in commit order, exactly once in effect.

Each batch's rows and the model's checkpoint are written in one transaction, and the checkpoint moves by
compare-and-set, so a crash or a second runner can repeat a batch's work but never its effect.
"""

import asyncio
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

import ledger
from projections import checkpoints, quarantine

log = structlog.get_logger(__name__)
NAME = "projector"
#: Events per model per transaction.
BATCH = 500
#: After a batch that was not full, the runner waits this long for more events.
GATHER_S = 0.05


class _LostRace(Exception):
    """Another runner advanced the checkpoint first."""


async def catch_up(
    conn: psycopg.AsyncConnection[Any], model: ModuleType, batch: int = BATCH, *, epoch: int | None = None
) -> int:
    """Apply the next batch of events to ``model``; returns how many it applied (0: caught up, or fenced off:
    ``epoch`` given and a newer leader claimed the checkpoint)."""
    return await catch_up_all(conn, [model], batch, epoch=epoch)


async def catch_up_all(
    conn: psycopg.AsyncConnection[Any], models: Sequence[ModuleType], batch: int = BATCH, *, epoch: int | None = None
) -> int:
    """Apply the next batch of events to each of ``models`` in one transaction, reading the log once from the
    checkpoint furthest behind; each model takes the events after its own. Returns the applications made."""
    try:
        async with conn.transaction():
            cursors = await checkpoints.load_all(conn, [m.NAME for m in models])
            lowest = min(cursors, key=_order)
            events = await ledger.read_all(conn, lowest, batch, types=_types(models))
            moves, work = [], []
            for model, cursor in zip(models, cursors, strict=True):
                mine = events if cursor == lowest else [e for e in events if (e.tx_id, e.position) > _order(cursor)]
                work.append((model.NAME, mine, getattr(model, "apply_many", None) or quarantine.each(model.apply)))
                if mine:
                    moves.append((model.NAME, cursor, mine[-1]))
            # An event a model cannot handle is quarantined, never left to stall the log for ever.
            await quarantine.apply_each(conn, work)
            if not await checkpoints.advance_all(conn, moves, epoch):
                raise _LostRace
            return sum(len(mine) for _, mine, _ in work)
    except _LostRace:
        return 0


def _types(models: Sequence[ModuleType]) -> frozenset[str] | None:
    """The event types any of ``models`` reads (each applies only its ``TYPES``); None when one declares none."""
    declared: list[frozenset[str] | None] = [getattr(m, "TYPES", None) for m in models]
    return None if None in declared else frozenset().union(*(t for t in declared if t is not None))


def _order(cursor: ledger.Cursor) -> tuple[int, int]:
    return cursor.tx_id, cursor.position


async def run(
    pool: AsyncConnectionPool[Any], models: Sequence[ModuleType], stop: asyncio.Event, poll_s: float = 1.0
) -> None:
    """Keep ``models`` up to date until ``stop`` is set; one leader at a time, others stand by, and every lost
    connection or database restart is survived (``ledger.follow``)."""
    names = [m.NAME for m in models]

    async def claim(conn: psycopg.AsyncConnection[Any]) -> int:
        return await checkpoints.claim(conn, names)

    async def batch(epoch: int) -> int:
        async with pool.connection() as conn:  # a fresh one each batch: a broken connection is never reused
            return await catch_up_all(conn, models, epoch=epoch)

    # A full batch is BATCH events for each model (when they are in step).
    await ledger.follow(pool, NAME, stop, batch, poll_s=poll_s, claim=claim, fill=(BATCH * len(models), GATHER_S))
