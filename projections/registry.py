"""Which read models run inline (inside the append transaction) and which run in the projection runner."""

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import psycopg

from ledger import Recorded
from projections import balances, daily_stats, merchants, orders, payments, refunds, stats, webhook_logs

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
    "webhook_logs": webhook_logs,
}


async def project_inline(conn: psycopg.AsyncConnection[Any], events: Sequence[Recorded]) -> None:
    """Apply freshly appended events to every inline read model (the ``Projector`` of command sessions)."""
    for event in events:
        for model in INLINE:
            await model.apply(conn, event)
