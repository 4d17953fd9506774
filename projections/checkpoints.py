"""Checkpoints of log followers, read and advanced inside the follower's own transaction."""

from typing import Any

import psycopg

from ledger import Cursor, Recorded


async def load(conn: psycopg.AsyncConnection[Any], name: str) -> Cursor:
    """Where ``name`` stands; a new follower starts at the beginning of the log."""
    await conn.execute(
        "INSERT INTO checkpoints (name, tx_id, position) VALUES (%s, '0', 0) ON CONFLICT DO NOTHING", (name,)
    )
    cur = await conn.execute("SELECT tx_id::text::bigint, position FROM checkpoints WHERE name = %s", (name,))
    row = await cur.fetchone()
    assert row is not None
    return Cursor(tx_id=row[0], position=row[1])


async def advance(
    conn: psycopg.AsyncConnection[Any], name: str, old: Cursor, last: Recorded, epoch: int | None = None
) -> bool:
    """Move ``name`` from ``old`` to ``last``; False when another runner moved it first, or when ``epoch`` is
    given and a newer leader has claimed the checkpoint since (roll back then)."""
    cur = await conn.execute(
        """UPDATE checkpoints SET tx_id = %s::text::xid8, position = %s, updated_at = now()
           WHERE name = %s AND tx_id = %s::text::xid8 AND position = %s AND (%s::bigint IS NULL OR epoch = %s)""",
        (str(last.tx_id), last.position, name, str(old.tx_id), old.position, epoch, epoch),
    )
    return cur.rowcount == 1


async def claim(conn: psycopg.AsyncConnection[Any], names: list[str]) -> int:
    """Take the checkpoints ``names`` for a new leader: their epoch becomes one past the highest of them, which
    fences off every write of the previous leader. Returns the new epoch."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO checkpoints (name, tx_id, position) SELECT n, '0', 0 FROM unnest(%s::text[]) n "
            "ON CONFLICT DO NOTHING",
            (names,),
        )
        cur = await conn.execute(
            """UPDATE checkpoints SET epoch = (SELECT max(epoch) + 1 FROM checkpoints WHERE name = ANY(%s))
               WHERE name = ANY(%s) RETURNING epoch""",
            (names, names),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])
