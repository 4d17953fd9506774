"""`payment_daily_stats`: per-merchant figures per UTC day of payment creation, for the dashboard's chart.

A decision counts on the day its payment was created (read from the stream's first event), so a day's
success rate is successes over that day's payments however late they were decided.
"""

from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded

NAME = "payment_daily_stats"


def _day(stamp: str) -> date:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()


async def _created_day(conn: psycopg.AsyncConnection[Any], stream_id: str) -> date | None:
    cur = await conn.execute(
        "SELECT data->>'created_at' FROM events WHERE stream_id = %s AND type = 'payment.created.v1'", (stream_id,)
    )
    row = await cur.fetchone()
    return _day(row[0]) if row and row[0] else None


async def apply(conn: psycopg.AsyncConnection[Any], event: Recorded) -> None:
    d = event.data
    day: date | None
    match event.type:
        case "payment.created.v1":
            day, deltas = _day(d["created_at"]), (1, 0, 0, 0)
        case "payment.succeeded.v1":
            day, deltas = await _created_day(conn, event.stream_id), (0, 1, 0, int(d["amount"]))
        case "payment.failed.v1":
            day, deltas = await _created_day(conn, event.stream_id), (0, 0, 1, 0)
        case _:
            return
    if day is None:
        return
    await conn.execute(
        """INSERT INTO payment_daily_stats AS s (merchant_id, day, total_count, success_count, failed_count,
                                                 success_amount)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (merchant_id, day) DO UPDATE SET
               total_count = s.total_count + EXCLUDED.total_count,
               success_count = s.success_count + EXCLUDED.success_count,
               failed_count = s.failed_count + EXCLUDED.failed_count,
               success_amount = s.success_amount + EXCLUDED.success_amount""",
        (d["merchant_id"], day, *deltas),
    )


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
