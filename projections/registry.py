"""Which read models run inline (inside the append transaction) and which run in the projection runner."""

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import psycopg

from ledger import IF_APPENDED, Recorded, if_batch_appended
from projections import balances, daily_stats, effects, merchants, orders, payments, refunds, stats, webhook_logs

#: Read models the API must read its own writes from: applied in the append transaction.
INLINE: tuple[ModuleType, ...] = (merchants, orders, payments, refunds, webhook_logs)
#: Heavier read models, applied in commit order by the projection runner with a checkpoint each.
ASYNC: tuple[ModuleType, ...] = (stats, daily_stats, balances)
#: Every read table, with the projection that owns it (for rebuilds).
TABLES: dict[str, ModuleType] = {
    "merchants": merchants,
    "orders": orders,
    "payments": payments,
    "payment_stats": stats,
    "payment_daily_stats": daily_stats,
    "refunds": refunds,
    "ledger_entries": balances,
    "ledger_lines": balances,
    "ledger_balances": balances,
    "merchant_balances": balances,
    "webhook_deliveries": webhook_logs,
}


class _NeedsRead(Exception):
    """A rule asked to read the tables: its effects cannot be known before the append."""


async def _no_read(table: str, key: dict[str, Any], column: str) -> Any:
    raise _NeedsRead()


class InlineProjector:
    """The inline read models, as the ``Projector`` of command sessions."""

    async def __call__(self, conn: psycopg.AsyncConnection[Any], events: Sequence[Recorded]) -> None:
        """Apply freshly appended events to every inline read model."""
        for event in events:
            for model in INLINE:
                await model.apply(conn, event)

    async def riding(self, events: Sequence[Recorded]) -> list[tuple[str, tuple[Any, ...]]] | None:
        """What ``events`` do to the inline read models, as statements to ride in their append
        (``ledger.append(..., also=...)``); None when the rules need to read the tables or do more than insert
        and update distinct rows. ``events`` are not appended yet: their position, transaction id and time are
        placeholders, which inline rules never read (tests/unit/test_projection_types.py)."""
        if (changes := await _changes(events)) is None:
            return None
        return effects.riding(changes, IF_APPENDED)

    async def riding_batch(
        self, conn: psycopg.AsyncConnection[Any], batch: Sequence[tuple[str, Sequence[Recorded]]]
    ) -> list[tuple[str, list[list[Any]]]] | None:
        """``riding`` for the appends of a batch (stream id, events not appended yet), as statements to ride in
        ``ledger.append_batch``: each stream's effects take effect if it was appended."""
        found = []
        for stream_id, events in batch:
            if (changes := await _changes(events)) is None:
                return None
            found.append((stream_id, changes))
        types = await effects.column_types(conn, {e.table for _, changes in found for e in changes})
        return effects.riding_batch(found, types, if_batch_appended)


async def _changes(events: Sequence[Recorded]) -> list[effects.Effect] | None:
    """The inline read models' effects of ``events``; None when a rule needs to read the tables."""
    changes: list[effects.Effect] = []
    for event in events:
        for model in INLINE:
            if event.type in model.TYPES:
                try:
                    changes += await model.changes(event, _no_read)
                except _NeedsRead:
                    return None
    return changes


project_inline = InlineProjector()
