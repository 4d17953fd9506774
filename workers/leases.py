"""Leases on webhook attempts in flight: which worker may POST an attempt now, kept outside the log.

An attempt is claimed at the delivery stream's version it is for, just before its POST; while the claim is younger
than ``in_flight_s`` nobody else may claim that attempt (a redrive, a duplicated message, a second worker). The
outcome, once appended at that same version, moves the stream on, and a claim of the old version then finds
nothing owed. A claim is a coordination fact, not a business one, so it is no event: the table is UNLOGGED
(no write-ahead log; PostgreSQL empties it after a crash, when nothing it held is in flight any more) and holds
nothing a replay must make again.
"""

from datetime import datetime, timedelta
from typing import Any

import psycopg

from ledger import arrays, vault

#: Claims what is still owed and not in flight, in one statement with what the POSTs need: the merchant's URL and
#: secret as they are at this moment (a delivery queued behind a hanging endpoint goes to the new URL).
_CLAIM = """WITH wanted AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(versions)s::integer[]) AS t(id, version)),
claimed AS (
    INSERT INTO webhook_leases AS w (delivery_id, version, started_at)
    SELECT l.id, l.version, %(now)s FROM wanted t
    JOIN webhook_logs l ON l.id = t.id AND l.version = t.version AND l.status = 'pending'
    ON CONFLICT (delivery_id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at
    WHERE w.version <> excluded.version OR w.started_at <= %(stale)s
    RETURNING delivery_id)
SELECT c.delivery_id::text, m.id::text, m.webhook_url, m.webhook_secret_sealed, k.wrapped_key
FROM claimed c JOIN webhook_logs l ON l.id = c.delivery_id JOIN merchants m ON m.id = l.merchant_id
LEFT JOIN merchant_keys k ON k.merchant_id = m.id"""


async def claim(
    conn: psycopg.AsyncConnection[Any], attempts: list[tuple[str, int]], now: datetime, in_flight_s: float
) -> dict[str, tuple[str | None, str | None]]:
    """Claim each (delivery id, stream version) that is still pending at that version and not claimed in the last
    ``in_flight_s`` (as of ``now``); returns the claimed ones' merchant URL and secret (None when the merchant's
    data key was deleted), by delivery id. Each delivery may appear once."""
    if not attempts:
        return {}
    ids, versions = zip(*attempts, strict=True)
    cur = await conn.execute(
        _CLAIM,
        {
            "ids": arrays.encode("uuid", ids),
            "versions": arrays.encode("integer", versions),
            "now": now,
            "stale": now - timedelta(seconds=in_flight_s),
        },
    )
    return {r[0]: (r[2], vault.reveal(r[4], r[3], r[1])) for r in await cur.fetchall()}


async def sweep(conn: psycopg.AsyncConnection[Any], now: datetime, in_flight_s: float) -> int:
    """Forget claims older than ``in_flight_s``: each is stale (its attempt was recorded, or its worker died), the
    same to ``claim`` as no claim at all. Returns how many."""
    cur = await conn.execute(
        "DELETE FROM webhook_leases WHERE started_at <= %s", (now - timedelta(seconds=in_flight_s),)
    )
    return cur.rowcount
