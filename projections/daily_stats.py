"""`payment_daily_stats`: per-merchant figures per UTC day of payment creation, for the dashboard's chart.

A decision counts on the day its payment was created (read from its `payments` row), so a day's
success rate is successes over that day's payments however late they were decided.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded
from projections import effects

NAME = "payment_daily_stats"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "payment.created.v1",
        "payment.failed.v1",
        "payment.succeeded.v1",
    }
)


def _day(stamp: str | datetime) -> date:
    """The UTC day of an event's time, or of a stored one (the database answers in the session's zone)."""
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return stamp.astimezone(UTC).date()


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    d = event.data
    match event.type:
        case "payment.created.v1":
            created, deltas = d["created_at"], (1, 0, 0, 0)
        case "payment.succeeded.v1":
            created, deltas = await read("payments", {"id": d["payment_id"]}, "created_at"), (0, 1, 0, int(d["amount"]))
        case "payment.failed.v1":
            created, deltas = await read("payments", {"id": d["payment_id"]}, "created_at"), (0, 0, 1, 0)
        case _:
            return []
    if created is None:
        return []
    add = dict(zip(("total_count", "success_count", "failed_count", "success_amount"), deltas, strict=True))
    return [effects.Tally("payment_daily_stats", {"merchant_id": d["merchant_id"], "day": _day(created)}, add)]


apply = effects.applier(changes, TYPES)
#: The projection runner's batch form: a batch's tallies of one row in one statement.
apply_many = effects.batch_applier(changes, TYPES)


async def last_days(
    conn: psycopg.AsyncConnection[Any], merchant_id: str, today: date, days: int
) -> list[dict[str, Any]]:
    """One row per day of the ``days`` ending ``today`` (days without payments as zeros), oldest first."""
    first = today - timedelta(days=days - 1)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT day, total_count, success_count, failed_count, success_amount FROM payment_daily_stats
               WHERE merchant_id = %s AND day BETWEEN %s AND %s""",
            (merchant_id, first, today),
        )
        found = {r["day"]: r for r in await cur.fetchall()}
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        r = found.get(day)
        total, success = (int(r["total_count"]), int(r["success_count"])) if r else (0, 0)
        out.append(
            {
                "date": day.isoformat(),
                "total_count": total,
                "success_count": success,
                "failed_count": int(r["failed_count"]) if r else 0,
                "success_amount": int(r["success_amount"]) if r else 0,
                "success_rate": round(success * 100 / total, 1) if total else None,
            }
        )
    return out
