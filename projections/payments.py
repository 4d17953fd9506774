"""The `payments` read table and its queries."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded, arrays
from projections import effects, reads

NAME = "payments"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "payment.captured.v1",
        "payment.created.v1",
        "payment.failed.v1",
        "payment.succeeded.v1",
        "refund.requested.v1",
    }
)

_COLUMNS = """id, order_id, merchant_id::text AS merchant_id, amount, currency, method, status, vpa, card_network,
    card_last4, error_code, error_description, captured, amount_refunded, created_at, updated_at"""


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    d = event.data
    match event.type:
        case "payment.created.v1":
            row = {
                "id": d["payment_id"],
                "order_id": d["order_id"],
                "merchant_id": d["merchant_id"],
                "amount": d["amount"],
                "currency": d["currency"],
                "method": d["method"],
                "status": "pending",
                "vpa": d["vpa"],
                "card_network": d["card_network"],
                "card_last4": d["card_last4"],
                "created_at": d["created_at"],
                "updated_at": d["created_at"],
            }
            return [effects.Insert("payments", row)]
        case "payment.succeeded.v1":
            values = {"status": "success", "updated_at": d["decided_at"]}
        case "payment.failed.v1":
            values = {
                "status": "failed",
                "error_code": d["error_code"],
                "error_description": d["error_description"],
                "updated_at": d["decided_at"],
            }
        case "payment.captured.v1":
            values = {"captured": True, "updated_at": d["captured_at"]}
        case "refund.requested.v1":
            refunded = {"amount_refunded": int(d["amount"])}
            return [effects.Update("payments", {"id": d["payment_id"]}, {"updated_at": d["requested_at"]}, refunded)]
        case _:
            return []
    return [effects.Update("payments", {"id": d["payment_id"]}, values)]


apply = effects.applier(changes, TYPES)


async def get(conn: psycopg.AsyncConnection[Any], payment_id: str, merchant_id: str | None) -> dict[str, Any] | None:
    """One payment; with ``merchant_id``, only if it belongs to that merchant."""
    return await reads.by_id(conn, "payments", _COLUMNS, payment_id, merchant_id)


async def page(
    conn: psycopg.AsyncConnection[Any],
    merchant_id: str,
    *,
    count: int,
    skip: int,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    order_id: str | None = None,
    method: str | None = None,
    search: str | None = None,
) -> list[dict[str, Any]]:
    """A merchant's payments, newest first, filtered (``search``: a payment id or an order id, exactly)."""
    where, params = ["merchant_id = %s"], [merchant_id]
    for clause, value in (
        ("status = %s", status),
        ("method = %s", method),
        ("(id = %s OR order_id = %s)", search),
        ("created_at >= %s", since),
        ("created_at <= %s", until),
        ("order_id = %s", order_id),
    ):
        if value is not None:
            where.append(clause)
            params.extend([value] * clause.count("%s"))  # type: ignore[list-item]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM payments WHERE {" AND ".join(where)}
                ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s""",
            (*params, count, skip),
        )
        return await cur.fetchall()


async def overdue(conn: psycopg.AsyncConnection[Any], cutoff: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """(id, method) of payments still pending that were created before ``cutoff`` (for the sweeper)."""
    cur = await conn.execute(
        "SELECT id, method FROM payments WHERE status = 'pending' AND created_at < %s ORDER BY created_at LIMIT %s",
        (cutoff, limit),
    )
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def by_ids(conn: psycopg.AsyncConnection[Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    """Rows of these payments by id, in one query (ids not found are absent)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM payments WHERE id = ANY(%s)", (arrays.encode("text", ids),))
        return {row["id"]: row for row in await cur.fetchall()}


async def versions(conn: psycopg.AsyncConnection[Any], payment_ids: list[str]) -> dict[str, tuple[str, datetime]]:
    """(status, updated_at) of each of these payments: what changes whenever the row does."""
    cur = await conn.execute("SELECT id, status, updated_at FROM payments WHERE id = ANY(%s)", (payment_ids,))
    return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
