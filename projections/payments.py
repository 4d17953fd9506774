"""The `payments` read table and its queries."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

import ledger
from ledger import Recorded

NAME = "payments"

_COLUMNS = """id, order_id, merchant_id::text AS merchant_id, amount, currency, method, status, vpa, card_network,
    card_last4, error_code, error_description, captured, amount_refunded, created_at, updated_at"""


async def apply(conn: psycopg.AsyncConnection[Any], event: Recorded) -> None:
    d = event.data
    if event.type == "payment.created.v1":
        await conn.execute(
            """INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, status, vpa, card_network,
                   card_last4, created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
            (
                d["payment_id"],
                d["order_id"],
                d["merchant_id"],
                d["amount"],
                d["currency"],
                d["method"],
                d["vpa"],
                d["card_network"],
                d["card_last4"],
                d["created_at"],
                d["created_at"],
            ),
        )
    elif event.type == "payment.succeeded.v1":
        await conn.execute(
            "UPDATE payments SET status = 'success', updated_at = %s WHERE id = %s",
            (d["decided_at"], d["payment_id"]),
        )
    elif event.type == "payment.failed.v1":
        await conn.execute(
            """UPDATE payments SET status = 'failed', error_code = %s, error_description = %s, updated_at = %s
               WHERE id = %s""",
            (d["error_code"], d["error_description"], d["decided_at"], d["payment_id"]),
        )
    elif event.type == "payment.captured.v1":
        await conn.execute(
            "UPDATE payments SET captured = true, updated_at = %s WHERE id = %s", (d["captured_at"], d["payment_id"])
        )
    elif event.type == "refund.requested.v1":
        # Summed from the stream up to this event, not added to the row, so applying an event twice (or out of
        # a rebuild) always lands on the same figure.
        past = await ledger.read_stream(conn, event.stream_id)
        refunded = sum(
            int(e.data["amount"])
            for e in past
            if e.type == "refund.requested.v1" and e.stream_version <= event.stream_version
        )
        await conn.execute(
            "UPDATE payments SET amount_refunded = %s, updated_at = %s WHERE id = %s",
            (refunded, d["requested_at"], d["payment_id"]),
        )


async def get(conn: psycopg.AsyncConnection[Any], payment_id: str, merchant_id: str | None) -> dict[str, Any] | None:
    """One payment; with ``merchant_id``, only if it belongs to that merchant."""
    async with conn.cursor(row_factory=dict_row) as cur:
        if merchant_id is None:
            await cur.execute(f"SELECT {_COLUMNS} FROM payments WHERE id = %s", (payment_id,))
        else:
            await cur.execute(
                f"SELECT {_COLUMNS} FROM payments WHERE id = %s AND merchant_id = %s",
                (payment_id, merchant_id),
            )
        return await cur.fetchone()


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
        await cur.execute(f"SELECT {_COLUMNS} FROM payments WHERE id = ANY(%s)", (ids,))
        return {row["id"]: row for row in await cur.fetchall()}


async def versions(conn: psycopg.AsyncConnection[Any], payment_ids: list[str]) -> dict[str, tuple[str, datetime]]:
    """(status, updated_at) of each of these payments: what changes whenever the row does."""
    cur = await conn.execute("SELECT id, status, updated_at FROM payments WHERE id = ANY(%s)", (payment_ids,))
    return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
