"""The delivery log: its table `webhook_deliveries` (inline, so the API and the retry scheduler read their own
writes) and its queries, which read the view `webhook_logs` (the table with each delivery's body and payload,
from the delivery's scheduling event)."""

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded, arrays
from projections import effects

NAME = "webhook_logs"
#: The table this projection writes.
TABLE = "webhook_deliveries"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "webhook.attempt_started.v1",
        "webhook.attempted.v1",
        "webhook.delivered.v1",
        "webhook.delivered.v2",
        "webhook.failed.v1",
        "webhook.failed.v2",
        "webhook.retry_requested.v1",
        "webhook.scheduled.v1",
    }
)

_COLUMNS = """id::text AS id, merchant_id::text AS merchant_id, event, status, attempts, last_attempt_at,
    next_retry_at, response_code, response_body, last_error, body, created_at, updated_at"""


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    d, v = event.data, event.stream_version
    key = {"id": d.get("delivery_id")}
    match event.type:
        case "webhook.scheduled.v1":
            row = {
                "id": d["delivery_id"],
                "merchant_id": d["merchant_id"],
                "event": d["event"],
                "status": "pending",
                "attempts": 0,
                "next_retry_at": d["scheduled_at"],
                "created_at": d["scheduled_at"],
                "source_event_id": d["source_event_id"],
                "version": v,
                "updated_at": d["scheduled_at"],
            }
            return [effects.Insert(TABLE, row)]
        case "webhook.attempt_started.v1":  # written before attempts in flight became leases (workers/leases.py)
            return [effects.Update(TABLE, key, {"version": v})]
        case "webhook.attempted.v1":
            values = _attempt(d, d["attempted_at"], v) | {"next_retry_at": d["next_retry_at"]}
            return [effects.Update(TABLE, key, values)]
        case "webhook.delivered.v2":
            return [effects.Update(TABLE, key, _attempt(d, d["delivered_at"], v) | {"status": "success"})]
        case "webhook.failed.v2":
            return [effects.Update(TABLE, key, _attempt(d, d["failed_at"], v) | {"status": "failed"})]
        case "webhook.delivered.v1" | "webhook.failed.v1":  # after its attempt's event, in logs written before v2
            status = "success" if event.type == "webhook.delivered.v1" else "failed"
            return [effects.Update(TABLE, key, {"status": status, "next_retry_at": None, "version": v})]
        case "webhook.retry_requested.v1":
            values = {
                "status": "pending",
                "attempts": 0,
                "next_retry_at": d["requested_at"],
                "version": v,
                "updated_at": d["requested_at"],
            }
            return [effects.Update(TABLE, key, values)]
    return []


apply = effects.applier(changes, TYPES)


def _attempt(d: dict[str, Any], at: str, version: int) -> dict[str, Any]:
    """The columns an attempt's event sets, whatever its outcome (a delivery's event has no ``error``), as the
    delivery's last: none due next."""
    return {
        "attempts": d["attempt"],
        "last_attempt_at": at,
        "response_code": d["response_code"],
        "response_body": d["response_body"],
        "last_error": d.get("error"),
        "next_retry_at": None,
        "version": version,
        "updated_at": at,
    }


async def page(
    conn: psycopg.AsyncConnection[Any], merchant_id: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A merchant's deliveries, newest first, and how many there are in all."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM webhook_logs WHERE merchant_id = %s
                ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s""",
            (merchant_id, limit, offset),
        )
        rows = await cur.fetchall()
    count = await conn.execute("SELECT count(*) FROM webhook_logs WHERE merchant_id = %s", (merchant_id,))
    total = await count.fetchone()
    return rows, int(total[0]) if total else 0


async def get(conn: psycopg.AsyncConnection[Any], delivery_id: str, merchant_id: str) -> dict[str, Any] | None:
    """One delivery of this merchant's."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM webhook_logs WHERE id = %s AND merchant_id = %s",
            (delivery_id, merchant_id),
        )
        return await cur.fetchone()


async def due(
    conn: psycopg.AsyncConnection[Any],
    now: datetime,
    *,
    grace_s: float,
    after: tuple[datetime, str] | None = None,
    limit: int = 1000,
) -> list[tuple[str, int, datetime]]:
    """(id, stream version, due time) of pending deliveries whose next attempt is due, soonest first, after the
    (due time, id) ``after``.

    A first attempt (attempts = 0) is the dispatcher's to enqueue; it counts as due here only ``grace_s``
    after its time (its scheduling), when the dispatcher's message was evidently lost. An attempt in flight
    (claimed, not yet recorded: workers/leases.py) counts only ``grace_s`` after its claim, when its worker
    evidently died.
    """
    since, since_id = after or (datetime.min.replace(tzinfo=now.tzinfo), "00000000-0000-0000-0000-000000000000")
    cur = await conn.execute(
        """SELECT id::text, version, next_retry_at FROM webhook_logs
           WHERE status = 'pending' AND next_retry_at <= %(now)s AND (next_retry_at, id) > (%(since)s, %(id)s::uuid)
             AND (attempts > 0 OR next_retry_at <= %(now)s - make_interval(secs => %(grace)s))
             AND NOT EXISTS (SELECT FROM webhook_leases w WHERE w.delivery_id = webhook_logs.id
                             AND w.version = webhook_logs.version
                             AND w.started_at > %(now)s - make_interval(secs => %(grace)s))
           ORDER BY next_retry_at, id LIMIT %(limit)s""",
        {"now": now, "grace": grace_s, "since": since, "id": since_id, "limit": limit},
    )
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def next_due(conn: psycopg.AsyncConnection[Any], now: datetime) -> datetime | None:
    """When the soonest retry not yet due falls due (None: no retry is waiting)."""
    cur = await conn.execute(
        "SELECT min(next_retry_at) FROM webhook_logs WHERE status = 'pending' AND next_retry_at > %s", (now,)
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def targets(conn: psycopg.AsyncConnection[Any], delivery_ids: list[str]) -> list[dict[str, Any]]:
    """What attempting these deliveries needs, in one query: each row's state and stream version, and its
    merchant's URL as it is now (only to pick the host's queue: the POST reads URL and secret again), and when
    the attempt at that version was claimed, if it was (workers/leases.py)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT l.id::text AS id, l.merchant_id::text AS merchant_id, l.event, l.body, l.status, l.attempts,
                      l.next_retry_at, w.started_at AS claimed_at, l.version, m.webhook_url
               FROM webhook_logs l JOIN merchants m ON m.id = l.merchant_id
               LEFT JOIN webhook_leases w ON w.delivery_id = l.id AND w.version = l.version
               WHERE l.id = ANY(%s::uuid[])""",
            (arrays.encode("uuid", delivery_ids),),
        )
        return await cur.fetchall()
