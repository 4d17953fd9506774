"""The chainer: after commit, in commit order, gives each event a gap-free ``chain_seq`` and its chain hash.

``hash = sha256(prev_hash || canonical(event))`` over the event as stored (ciphertext and all), so appends pay
nothing for it and forgetting a key never breaks the chain. One leader at a time (``follow``); its checkpoint
row in ``checkpoints`` carries the leader's epoch, so a paused ex-leader's batch is refused and rolled back.
"""

import asyncio
import struct
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from audit import spec
from ledger.follower import follow
from ledger.store import Cursor, read_all_text

NAME = "chainer"
#: Events per transaction: one read, one COPY and one checkpoint move each.
BATCH = 1000
#: After a batch that was not full, the chainer waits this long for more events (the chain trails by about
#: this much while appends flow).
GATHER_S = 0.05


#: The chain's rows go in as PostgreSQL's binary COPY, each packed in one call: psycopg's ``write_row`` spelt each
#: value as text, 12.8 thousand instructions a row against 4.9 (batches of 100).
_COPY = "COPY event_chain (chain_seq, position, hash, leaf) FROM STDIN (FORMAT BINARY)"
#: A row: four fields; chain_seq and position as 8-byte integers, hash and leaf as 32-byte byteas, each after
#: its length.
_ROW = struct.Struct(">hiqiqi32si32s")
#: The binary format's signature, flags and header extension length; the trailer is a field count of -1.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_TRAILER = b"\xff\xff"


class _Fenced(Exception):
    """A newer leader claimed the chain (or another chainer moved it first): roll this batch back."""


def encode(row: Sequence[Any]) -> bytes:
    """The canonical bytes of an event read by ``read_all_text``."""
    position, _, event_id, stream_id, stream_version, type_, data, metadata, recorded_at = row
    return spec.canonical_text(
        position=position,
        event_id=event_id,
        stream_id=stream_id,
        stream_version=stream_version,
        type=type_,
        recorded_at=recorded_at,
        data=data,
        metadata=metadata,
    )


async def claim(conn: psycopg.AsyncConnection[Any]) -> int:
    """Take the chain for a new leader: one past the last epoch, which fences off the previous leader."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO checkpoints (name, tx_id, position) VALUES (%s, '0', 0) ON CONFLICT DO NOTHING", (NAME,)
        )
        cur = await conn.execute("UPDATE checkpoints SET epoch = epoch + 1 WHERE name = %s RETURNING epoch", (NAME,))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def chain_batch(conn: psycopg.AsyncConnection[Any], epoch: int | None = None, limit: int = BATCH) -> int:
    """Chain the next events after the chain's head; returns how many (0: caught up, or fenced off).

    The events are read and hashed before the write transaction begins, and that transaction first checks that
    the checkpoint is still the one they were read after: a transaction holding a row lock has an id, and every
    reader of the log waits behind the oldest such id still open (``read_all``), so the chain holds one only to
    write what it has already hashed."""
    cursor = await _checkpoint(conn)
    if epoch is not None and cursor[2] != epoch:
        return 0
    events = await read_all_text(conn, Cursor(cursor[0], cursor[1]), limit)
    if not events:
        return 0
    cur = await conn.execute("SELECT chain_seq, hash FROM event_chain ORDER BY chain_seq DESC LIMIT 1")
    head = await cur.fetchone()
    seq, prev = (int(head[0]), bytes(head[1])) if head else (0, spec.GENESIS)
    rows = []
    for event in events:
        body = encode(event)
        seq, prev = seq + 1, spec.link(prev, body)
        rows.append(_ROW.pack(4, 8, seq, 8, event[0], 32, prev, 32, spec.leaf(body)))
    try:
        async with conn.transaction():
            if await _checkpoint(conn, lock=True) != cursor:
                raise _Fenced  # another chainer moved it, or a newer leader claimed it, since it was read
            async with conn.cursor().copy(_COPY) as copy:
                await copy.write(b"".join((_HEADER, *rows, _TRAILER)))
            position, tx_id = events[-1][:2]
            await conn.execute(
                """UPDATE checkpoints SET tx_id = %s::text::xid8, position = %s, updated_at = now()
                   WHERE name = %s""",
                (str(tx_id), position, NAME),
            )
            return len(events)
    except _Fenced:
        return 0


async def _checkpoint(conn: psycopg.AsyncConnection[Any], *, lock: bool = False) -> tuple[int, int, int]:
    """The chain's checkpoint: (transaction id, position, epoch), locked for this transaction with ``lock``."""
    query = "SELECT tx_id::text::bigint, position, epoch FROM checkpoints WHERE name = %s"
    cur = await conn.execute(query + (" FOR UPDATE" if lock else ""), (NAME,))
    row = await cur.fetchone()
    if row is None:
        await conn.execute(
            "INSERT INTO checkpoints (name, tx_id, position) VALUES (%s, '0', 0) ON CONFLICT DO NOTHING", (NAME,)
        )
        return (0, 0, 0)
    return (int(row[0]), int(row[1]), int(row[2]))


async def run(pool: AsyncConnectionPool[Any], stop: asyncio.Event, poll_s: float = 1.0) -> None:
    """Keep the chain up with the log until ``stop`` is set, leading or standing by (``ledger.follow``)."""

    async def batch(epoch: int) -> int:
        async with pool.connection() as conn:
            return await chain_batch(conn, epoch)

    await follow(pool, NAME, stop, batch, poll_s=poll_s, claim=claim, fill=(BATCH, GATHER_S))


async def lag(conn: psycopg.AsyncConnection[Any]) -> dict[str, float]:
    """How far the chain trails the log: events not chained yet, the age in seconds of the oldest of them, and
    the chain's head ``chain_seq``."""
    cur = await conn.execute(
        """WITH c AS (SELECT coalesce((SELECT tx_id FROM checkpoints WHERE name = %(n)s), '0'::xid8) AS tx,
                             coalesce((SELECT position FROM checkpoints WHERE name = %(n)s), 0) AS pos)
           SELECT count(e.position), coalesce(extract(epoch FROM now() - min(e.recorded_at)), 0),
                  (SELECT coalesce(max(chain_seq), 0) FROM event_chain)
           FROM c LEFT JOIN events e ON (e.tx_id, e.position) > (c.tx, c.pos)""",
        {"n": NAME},
    )
    row = await cur.fetchone()
    assert row is not None
    return {"lag_events": int(row[0]), "lag_seconds": round(float(row[1]), 3), "head": int(row[2])}
