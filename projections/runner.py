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


class _LostRace(Exception):
    """Another runner advanced the checkpoint first."""


async def catch_up(conn: psycopg.AsyncConnection[Any], model: ModuleType, batch: int = 500) -> int:
    """Apply the next batch of events to ``model``; returns how many it applied (0: caught up)."""
    try:
        async with conn.transaction():
            cursor = await checkpoints.load(conn, model.NAME)
            events = await ledger.read_all(conn, cursor, batch)
            # An event the model cannot handle is quarantined, never left to stall the log for ever.
            await quarantine.apply_all(conn, model.NAME, events, quarantine.each(model.apply))
            if events and not await checkpoints.advance(conn, model.NAME, cursor, events[-1]):
                raise _LostRace
            return len(events)
    except _LostRace:
        return 0


async def run(
    pool: AsyncConnectionPool[Any], models: Sequence[ModuleType], stop: asyncio.Event, poll_s: float = 1.0
) -> None:
    """Keep ``models`` up to date until ``stop`` is set; one leader at a time, others stand by."""
    async with pool.connection() as listener, pool.connection() as conn:
        if not await ledger.lead(listener, "projector", stop, poll_s):
            return
        log.info("projector.leading", models=[m.NAME for m in models])
        try:
            wakeup = await ledger.Wakeup.listen(listener)
            while not stop.is_set():
                applied = 0
                for model in models:
                    applied += await catch_up(conn, model)
                if not applied:
                    await wakeup.wait(poll_s)
        finally:
            await ledger.step_down(listener, "projector")
