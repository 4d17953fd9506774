"""`payment_stats`: per-merchant payment figures, an async projection kept by the projection runner."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded

NAME = "payment_stats"


def _deltas(event: Recorded) -> tuple[int, int, int, int] | None:
    """(total, success, failed, success amount) that this event adds."""
    match event.type:
        case "payment.created.v1":
            return 1, 0, 0, 0
        case "payment.succeeded.v1":
            return 0, 1, 0, int(event.data["amount"])
        case "payment.failed.v1":
            return 0, 0, 1, 0
    return None


async def apply(conn: psycopg.AsyncConnection[Any], event: Recorded) -> None:
    deltas = _deltas(event)
    if deltas is None:
        return
    await conn.execute(
        """INSERT INTO payment_stats AS s (merchant_id, total_count, success_count, failed_count, success_amount)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (merchant_id) DO UPDATE SET
               total_count = s.total_count + EXCLUDED.total_count,
               success_count = s.success_count + EXCLUDED.success_count,
               failed_count = s.failed_count + EXCLUDED.failed_count,
               success_amount = s.success_amount + EXCLUDED.success_amount""",
        (event.data["merchant_id"], *deltas),
    )


async def of_merchant(conn: psycopg.AsyncConnection[Any], merchant_id: str) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT total_count, success_count, failed_count, success_amount FROM payment_stats WHERE merchant_id = %s",
            (merchant_id,),
        )
        row = await cur.fetchone()
    # success_amount is numeric (a sum never overflows): back to int, the type every reader expects.
    return (
        {k: int(v) for k, v in row.items()}
        if row
        else dict.fromkeys(("total_count", "success_count", "failed_count", "success_amount"), 0)
    )
