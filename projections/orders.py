"""The `orders` read table and its queries."""

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ledger import Recorded, arrays
from projections import effects, reads

NAME = "orders"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "order.created.v1",
        "order.paid.v1",
    }
)

_COLUMNS = "id, merchant_id::text AS merchant_id, amount, currency, receipt, notes, status, created_at, updated_at"


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    d = event.data
    if event.type == "order.created.v1":
        row = {
            "id": d["order_id"],
            "merchant_id": d["merchant_id"],
            "amount": d["amount"],
            "currency": d["currency"],
            "receipt": d["receipt"],
            "notes": Jsonb(d["notes"]),
            "status": "created",
            "created_at": d["created_at"],
            "updated_at": d["created_at"],
        }
        return [effects.Insert("orders", row)]
    if event.type == "order.paid.v1":
        return [effects.Update("orders", {"id": d["order_id"]}, {"status": "paid", "updated_at": d["paid_at"]})]
    return []


apply = effects.applier(changes, TYPES)


async def get(conn: psycopg.AsyncConnection[Any], order_id: str, merchant_id: str | None) -> dict[str, Any] | None:
    """One order; with ``merchant_id``, only if it belongs to that merchant."""
    return await reads.by_id(conn, "orders", _COLUMNS, order_id, merchant_id)


async def page(conn: psycopg.AsyncConnection[Any], merchant_id: str, *, count: int, skip: int) -> list[dict[str, Any]]:
    """A merchant's orders, newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM orders WHERE merchant_id = %s
                ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s""",
            (merchant_id, count, skip),
        )
        return await cur.fetchall()


async def by_ids(conn: psycopg.AsyncConnection[Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    """Rows of these orders by id, in one query (ids not found are absent)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM orders WHERE id = ANY(%s)", (arrays.encode("text", ids),))
        return {row["id"]: row for row in await cur.fetchall()}
