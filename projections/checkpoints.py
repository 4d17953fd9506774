"""Checkpoints of log followers, read and advanced inside the follower's own transaction."""

from typing import Any

import psycopg

from ledger import Cursor, Recorded, arrays


async def load(conn: psycopg.AsyncConnection[Any], name: str) -> Cursor:
    """Where ``name`` stands; a new follower starts at the beginning of the log."""
    return (await load_all(conn, [name]))[0]


async def load_all(conn: psycopg.AsyncConnection[Any], names: list[str]) -> list[Cursor]:
    """Where each of ``names`` stands, in one statement while they all exist (a leader's ``claim`` made them)."""
    query = "SELECT name, tx_id::text::bigint, position FROM checkpoints WHERE name = ANY(%s)"
    rows = {
        name: Cursor(tx_id, position)
        for name, tx_id, position in await (await conn.execute(query, (names,))).fetchall()
    }
    if len(rows) < len(set(names)):
        await _create(conn, names)
        return await load_all(conn, names)
    return [rows[name] for name in names]


async def advance(
    conn: psycopg.AsyncConnection[Any], name: str, old: Cursor, last: Recorded, epoch: int | None = None
) -> bool:
    """Move ``name`` from ``old`` to ``last``; False when another runner moved it first, or when ``epoch`` is
    given and a newer leader has claimed the checkpoint since (roll back then)."""
    return await advance_all(conn, [(name, old, last)], epoch)


async def advance_all(
    conn: psycopg.AsyncConnection[Any], moves: list[tuple[str, Cursor, Recorded]], epoch: int | None = None
) -> bool:
    """Each (name, old, last) of ``moves`` as ``advance`` moves it, in one statement; False unless every one
    moved (roll back then)."""
    if not moves:
        return True
    names, olds, lasts = zip(*moves, strict=True)
    cur = await conn.execute(
        """UPDATE checkpoints c SET tx_id = m.new_tx::text::xid8, position = m.new_position, updated_at = now()
           FROM unnest(%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[])
                AS m(name, old_tx, old_position, new_tx, new_position)
           WHERE c.name = m.name AND c.tx_id = m.old_tx::text::xid8 AND c.position = m.old_position
             AND (%s::bigint IS NULL OR c.epoch = %s)""",
        (
            arrays.encode("text", names),
            arrays.encode("bigint", [o.tx_id for o in olds]),
            arrays.encode("bigint", [o.position for o in olds]),
            arrays.encode("bigint", [e.tx_id for e in lasts]),
            arrays.encode("bigint", [e.position for e in lasts]),
            epoch,
            epoch,
        ),
    )
    return cur.rowcount == len(moves)


async def claim(conn: psycopg.AsyncConnection[Any], names: list[str]) -> int:
    """Take the checkpoints ``names`` for a new leader: their epoch becomes one past the highest of them, which
    fences off every write of the previous leader. Returns the new epoch."""
    async with conn.transaction():
        await _create(conn, names)
        cur = await conn.execute(
            """UPDATE checkpoints SET epoch = (SELECT max(epoch) + 1 FROM checkpoints WHERE name = ANY(%s))
               WHERE name = ANY(%s) RETURNING epoch""",
            (names, names),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _create(conn: psycopg.AsyncConnection[Any], names: list[str]) -> None:
    """Make the checkpoints of ``names`` that do not exist yet, at the beginning of the log."""
    await conn.execute(
        "INSERT INTO checkpoints (name, tx_id, position) SELECT n, '0', 0 FROM unnest(%b::text[]) n "
        "ON CONFLICT DO NOTHING",
        (arrays.encode("text", names),),
    )
