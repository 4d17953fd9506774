"""`payment_stats`: per-merchant payment figures, an async projection kept by the projection runner."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded
from projections import effects

NAME = "payment_stats"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "payment.created.v1",
        "payment.failed.v1",
        "payment.succeeded.v1",
    }
)


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


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    deltas = _deltas(event)
    if deltas is None:
        return []
    add = dict(zip(("total_count", "success_count", "failed_count", "success_amount"), deltas, strict=True))
    return [effects.Tally("payment_stats", {"merchant_id": event.data["merchant_id"]}, add)]


apply = effects.applier(changes, TYPES)
#: The projection runner's batch form: a batch's tallies of one row in one statement.
apply_many = effects.batch_applier(changes, TYPES)


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
