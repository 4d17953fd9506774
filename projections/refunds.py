"""The `refunds` read table (inline) and its queries."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ledger import Recorded
from projections import effects, reads

NAME = "refunds"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "refund.processed.v1",
        "refund.requested.v1",
    }
)

_COLUMNS = """id, payment_id, merchant_id::text AS merchant_id, amount, currency, reason, notes, status, created_at,
    processed_at"""


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    d = event.data
    if event.type == "refund.requested.v1":
        row = {
            "id": d["refund_id"],
            "payment_id": d["payment_id"],
            "merchant_id": d["merchant_id"],
            "amount": d["amount"],
            "currency": d["currency"],
            "reason": d["reason"],
            "notes": Jsonb(d.get("notes") or {}),
            "status": "pending",
            "created_at": d["requested_at"],
        }
        return [effects.Insert("refunds", row)]
    if event.type == "refund.processed.v1":
        values = {"status": "processed", "processed_at": d["processed_at"]}
        return [effects.Update("refunds", {"id": d["refund_id"]}, values)]
    return []


apply = effects.applier(changes, TYPES)


async def get(conn: psycopg.AsyncConnection[Any], refund_id: str, merchant_id: str | None) -> dict[str, Any] | None:
    """One refund; with ``merchant_id``, only if it belongs to that merchant."""
    return await reads.by_id(conn, "refunds", _COLUMNS, refund_id, merchant_id)


async def page(
    conn: psycopg.AsyncConnection[Any],
    merchant_id: str,
    *,
    count: int,
    skip: int,
    payment_id: str | None = None,
) -> list[dict[str, Any]]:
    """A merchant's refunds (of one payment, when given), newest first."""
    where, params = "merchant_id = %s", [merchant_id]
    if payment_id is not None:
        where += " AND payment_id = %s"
        params.append(payment_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM refunds WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            (*params, count, skip),
        )
        return await cur.fetchall()


async def overdue(conn: psycopg.AsyncConnection[Any], cutoff: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """(payment id, refund id) of refunds still pending that were requested before ``cutoff`` (for the sweeper)."""
    cur = await conn.execute(
        "SELECT payment_id, id FROM refunds WHERE status = 'pending' AND created_at < %s ORDER BY created_at LIMIT %s",
        (cutoff, limit),
    )
    return [(r[0], r[1]) for r in await cur.fetchall()]
