"""Append to a stream with an expected version, read a stream, read everything in commit order.

Functions take an open connection and never commit: the caller's ``async with conn.transaction()`` is the
unit of work.
"""

import contextvars
import functools
import os
import select
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg.types.string import TextLoader

from ledger import arrays, jsontext, statements, wakeups
from ledger.errors import ConcurrencyConflict


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7: Unix milliseconds, then 74 random bits). New event ids land at
    the right edge of the ``event_id`` index, on pages already in memory, not each on a random page of it."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    return uuid.UUID(int=value & ~(0xF << 76 | 0x3 << 62) | 0x7 << 76 | 0x2 << 62)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended."""

    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=uuid7)


jsontext.install()


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event as stored."""

    position: int
    tx_id: int
    event_id: uuid.UUID
    stream_id: str
    stream_version: int
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True)
class Cursor:
    """Where a commit-order reader stands: after this (transaction id, position)."""

    tx_id: int = 0
    position: int = 0


#: An event's columns, in the order of ``Recorded``'s fields (``recorded_rows`` relies on it).
_COLUMNS = (
    "position, tx_id::text::bigint AS tx_id, event_id, stream_id, stream_version, type, data, metadata, recorded_at"
)


def recorded_rows(cursor: Any) -> Callable[[Sequence[Any]], Recorded]:
    """A row factory for rows of ``_COLUMNS`` (or columns in the same order): each a ``Recorded``, its fields by
    position. Half the time of psycopg's ``class_row``, which makes a dict of every row; every follower reads
    every event through it."""
    return make_recorded


_new = object.__new__
# Each field's slot setter, in the order of the fields.
_position, _tx_id, _event_id, _stream_id, _stream_version, _type, _data, _metadata, _recorded_at = (
    getattr(Recorded, name).__set__ for name in Recorded.__slots__
)


def make_recorded(values: Sequence[Any]) -> Recorded:
    """``Recorded(*values)``, still frozen, for half the instructions (7.9 thousand against 13.9): a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__`` by name, where this calls each
    slot's own setter. Every event read or appended is made here."""
    r = _new(Recorded)
    _position(r, values[0])
    _tx_id(r, values[1])
    _event_id(r, values[2])
    _stream_id(r, values[3])
    _stream_version(r, values[4])
    _type(r, values[5])
    _data(r, values[6])
    _metadata(r, values[7])
    _recorded_at(r, values[8])
    return r


# One statement, one round trip. The version check happens in the `streams` row before `events` draws a
# position from its identity: when the check fails the INSERT selects no rows, so a losing writer burns no
# position. UPDATE ... WHERE version = expected waits for a concurrent writer's row lock and then re-checks
# against the committed row (and INSERT ... ON CONFLICT waits for a concurrent creator), so exactly one of N
# racers matches.
# Readers deliver in transaction-id order (read_all), so a transaction that took its id before the stream's
# last writer (it wrote something else first, then read the stream after that writer committed) must not
# append: its later version would be delivered before the earlier one. It is refused like a lost race, and a
# retry in a new transaction succeeds.
_CHECK_EXISTING = """UPDATE streams SET version = %s, tx_id = pg_current_xact_id()
    WHERE stream_id = %s AND version = %s AND tx_id <= pg_current_xact_id() AND {guard}"""
_CHECK_NEW = """INSERT INTO streams (version, stream_id, tx_id) SELECT %s, %s, pg_current_xact_id() WHERE {guard}
    ON CONFLICT DO NOTHING"""
#: An append guarded by another stream (``append(..., guard=...)``) happens only while that one is at a version.
_GUARD = "EXISTS (SELECT FROM streams WHERE stream_id = %s AND version = %s)"


#: The condition under which a statement riding along with an append (``append(..., also=...)``) takes effect.
IF_APPENDED = "EXISTS (SELECT FROM appended)"


@functools.lru_cache(maxsize=64)
def _append_sql(count: int, new_stream: bool, also: tuple[str, ...] = (), guarded: bool = False) -> str:
    """The append statement for ``count`` events: scalar parameters (no array round trip through the driver),
    and only the columns the database makes up come back (the caller already has the rest). Each of ``also``
    becomes a data-modifying CTE of the same statement."""
    rows = ", ".join(["(%s::uuid, %s, %s::integer, %s, %s::jsonb, %s::jsonb)"] * count)
    insert = f"""INSERT INTO events (event_id, stream_id, stream_version, type, data, metadata)
SELECT * FROM (VALUES {rows}) AS e(event_id, stream_id, stream_version, type, data, metadata)
WHERE EXISTS (SELECT FROM checked)
RETURNING stream_version, position, tx_id::text::bigint, recorded_at"""
    check = f"WITH checked AS ({_CHECK_NEW if new_stream else _CHECK_EXISTING} RETURNING 1)"
    check = check.format(guard=_GUARD if guarded else "true")
    if not also:
        return f"{check}\n{insert}"
    ctes = "".join(f",\nalso{i} AS ({text})" for i, text in enumerate(also))
    return f"{check},\nappended AS ({insert}){ctes}\nSELECT * FROM appended"


#: True once this context (one API request, say) sent an append: should its connection then be lost, the append
#: may or may not have committed, and only the caller's idempotency key can tell.
APPENDED: contextvars.ContextVar[bool] = contextvars.ContextVar("paygate_appended", default=False)


async def append(
    conn: psycopg.AsyncConnection[Any],
    stream_id: str,
    events: Sequence[NewEvent],
    *,
    expected_version: int,
    also: Sequence[tuple[str, Sequence[Any]]] = (),
    guard: tuple[str, int] | None = None,
) -> list[Recorded]:
    """Append ``events`` to ``stream_id`` if it is still at ``expected_version`` (0: the stream is new), and,
    with a ``guard`` (stream id, version), only while that other stream is still at that version: the events
    were decided on its state as of that version, known without reading it first.

    ``also``: statements (text, parameters) run in the same statement as the append, each written to take
    effect only ``IF_APPENDED``, so one round trip and no transaction make the whole unit of work atomic. They
    all see the tables as they were before the statement (PostgreSQL's rule for data-modifying CTEs).

    Raises:
        ConcurrencyConflict: the stream (or the guarding one) has moved on; nothing was written.
    """
    if not events:
        return []
    new_version = expected_version + len(events)
    params: list[Any] = [new_version, stream_id] + ([] if expected_version == 0 else [expected_version])
    params += guard or ()
    for version, e in enumerate(events, expected_version + 1):
        params += (e.event_id, stream_id, version, e.type, Jsonb(e.data), Jsonb(e.metadata))
    for _, extra in also:
        params += extra
    APPENDED.set(True)
    text = _append_sql(len(events), expected_version == 0, tuple(t for t, _ in also), guard is not None)
    rows = await statements.fetch(conn, text, params)
    stored = {version: (position, tx_id, at) for version, position, tx_id, at in rows}
    if not stored:
        raise ConcurrencyConflict(stream_id, expected_version)
    wakeups.appended(conn)
    recorded = []
    for version, e in enumerate(events, expected_version + 1):
        position, tx_id, at = stored[version]
        row = (position, tx_id, e.event_id, stream_id, version, e.type, e.data, e.metadata, at)
        recorded.append(make_recorded(row))
    return recorded


@dataclass(frozen=True)
class Append:
    """One stream's part of a batch: ``events``, if the stream is still at ``expected_version`` (0: it is new)."""

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: int


def if_batch_appended(column: str) -> str:
    """The condition, for a statement riding in ``append_batch``, that the stream named by ``column`` was
    appended."""
    return f"{column} IN (SELECT stream_id FROM checked)"


# One statement for the whole batch, its shape the same whatever the batch holds (so it is prepared once): the
# streams' checks, new and existing, as in ``append``, then the events of the streams that passed, in the batch's
# order (positions follow it, so a stream's events keep their version order).
_BATCH_SQL = """WITH v AS (
    SELECT * FROM unnest(%b::text[], %b::integer[], %b::integer[]) AS v(stream_id, expected, new_version)),
created AS (
    INSERT INTO streams (version, stream_id, tx_id)
    SELECT new_version, stream_id, pg_current_xact_id() FROM v WHERE expected = 0
    ON CONFLICT DO NOTHING RETURNING stream_id),
moved AS (
    UPDATE streams s SET version = v.new_version, tx_id = pg_current_xact_id() FROM v
    WHERE v.expected > 0 AND s.stream_id = v.stream_id AND s.version = v.expected
      AND s.tx_id <= pg_current_xact_id()
    RETURNING s.stream_id),
checked AS (SELECT stream_id FROM created UNION ALL SELECT stream_id FROM moved),
appended AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, data, metadata)
    SELECT e.event_id, e.stream_id, e.stream_version, e.type, e.data, e.metadata
    FROM unnest(%b::uuid[], %b::text[], %b::integer[], %b::text[], %b::jsonb[], %b::jsonb[])
        WITH ORDINALITY AS e(event_id, stream_id, stream_version, type, data, metadata, n)
    WHERE e.stream_id IN (SELECT stream_id FROM checked)
    ORDER BY e.n
    RETURNING stream_id, stream_version, position, tx_id::text::bigint, recorded_at)"""


#: The element types of ``_BATCH_SQL``'s arrays, in order.
_BATCH_TYPES = ("text", "integer", "integer", "uuid", "text", "integer", "text", "jsonb", "jsonb")


async def append_batch(
    conn: psycopg.AsyncConnection[Any],
    batch: Sequence[Append],
    *,
    also: Sequence[tuple[str, Sequence[Any]]] = (),
) -> dict[str, list[Recorded]]:
    """Append each of ``batch`` (one each of distinct streams) whose stream is still at its expected version, all
    in one statement; returns what was appended, by stream. A stream that moved on gets nothing and holds up no
    other: each is checked on its own, as by ``append``.

    ``also``: statements run in the same statement, each written to take effect only for the streams appended
    (``if_batch_appended``).
    """
    batch = [a for a in batch if a.events]
    if not batch:
        return {}
    if len({a.stream_id for a in batch}) != len(batch):
        raise ValueError("a batch appends to each stream once")
    heads = [(a.stream_id, a.expected_version, a.expected_version + len(a.events)) for a in batch]
    rows = [
        (e.event_id, a.stream_id, v, e.type, e.data, e.metadata)
        for a in batch
        for v, e in enumerate(a.events, a.expected_version + 1)
    ]
    # Column arrays, one a parameter: (stream ids, expected versions, new versions), then the events' columns.
    columns = (*zip(*heads, strict=True), *zip(*rows, strict=True))
    params: list[Any] = [arrays.encode(t, c) for t, c in zip(_BATCH_TYPES, columns, strict=True)]
    for _, extra in also:
        params += extra
    APPENDED.set(True)
    ctes = "".join(f",\nalso{i} AS ({text})" for i, (text, _) in enumerate(also))
    appended = await statements.fetch(conn, f"{_BATCH_SQL}{ctes}\nSELECT * FROM appended", params)
    stored = {(stream, version): rest for stream, version, *rest in appended}
    out: dict[str, list[Recorded]] = {}
    for a in batch:
        if (a.stream_id, a.expected_version + 1) not in stored:
            continue
        recorded = out[a.stream_id] = []
        for v, e in enumerate(a.events, a.expected_version + 1):
            position, tx_id, at = stored[a.stream_id, v]
            row = (position, tx_id, e.event_id, a.stream_id, v, e.type, e.data, e.metadata, at)
            recorded.append(make_recorded(row))
    if out:
        wakeups.appended(conn)
    return out


async def read_stream(conn: psycopg.AsyncConnection[Any], stream_id: str) -> list[Recorded]:
    """Every event of one stream, oldest first; the stream's version is the last one's ``stream_version``."""
    query = f"SELECT {_COLUMNS} FROM events WHERE stream_id = %s ORDER BY stream_version"
    return await statements.fetch(conn, query, (stream_id,), make_recorded)


async def read_event(conn: psycopg.AsyncConnection[Any], event_id: str) -> Recorded | None:
    """One event, by its id (None: no such event)."""
    query = f"SELECT {_COLUMNS} FROM events WHERE event_id = %s"
    rows = await statements.fetch(conn, query, (event_id,), make_recorded)
    return rows[0] if rows else None


async def read_streams(conn: psycopg.AsyncConnection[Any], stream_ids: Sequence[str]) -> dict[str, list[Recorded]]:
    """Every event of each of ``stream_ids``, oldest first, in one statement (a stream never written: none)."""
    query = f"SELECT {_COLUMNS} FROM events WHERE stream_id = ANY(%s) ORDER BY stream_id, stream_version"
    out: dict[str, list[Recorded]] = {s: [] for s in stream_ids}
    for r in await statements.fetch(conn, query, (arrays.encode("text", stream_ids),), make_recorded):
        out[r.stream_id].append(r)
    return out


async def read_all(
    conn: psycopg.AsyncConnection[Any], after: Cursor, limit: int = 500, *, types: Collection[str] | None = None
) -> list[Recorded]:
    """Events committed after ``after``, in commit order, at most ``limit``. With ``types``, every event still
    comes, in its place, but those of other types with empty data and metadata (``{}``), for a follower that
    acts on those types alone: their documents are neither sent nor parsed.

    Positions come from a sequence and are not gap-free in commit order: a transaction may take position 7,
    commit after the one holding position 8, and a reader keeping "position > 8" would never see it. So we
    order by the writing transaction's id and read only below the oldest transaction still in flight
    (the snapshot's xmin): everything there has committed or aborted, and nothing can appear behind it.
    """
    params: list[Any] = [str(after.tx_id), after.position, limit]
    if types is not None:
        params[:0] = [arrays.encode("text", sorted(types))] * 2
    query = _AFTER.format(columns=_COLUMNS if types is None else _TYPED_COLUMNS)
    return await statements.fetch(conn, query, params, make_recorded)


async def read_all_text(conn: psycopg.AsyncConnection[Any], after: Cursor, limit: int = 500) -> list[tuple[Any, ...]]:
    """``read_all``'s events as rows of ``Recorded``'s fields in order, the event id and the data and metadata
    as the database spells them (``str``), unparsed: for a reader that wants their text, as the chainer does
    to parse each document once its own way."""
    async with conn.cursor() as cur:
        for name in ("uuid", "jsonb"):
            cur.adapters.register_loader(name, TextLoader)
        await cur.execute(_AFTER.format(columns=_COLUMNS), (str(after.tx_id), after.position, limit))
        return await cur.fetchall()


#: ``read_all``'s statement, less its columns.
_AFTER = """SELECT {columns} FROM events
            WHERE (tx_id, position) > (%s::text::xid8, %s)
              AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY tx_id, position
            LIMIT %s"""


#: ``_COLUMNS``, the documents of events whose type is not in the array given (twice) left empty.
_TYPED_COLUMNS = _COLUMNS.replace(
    "data, metadata",
    "CASE WHEN type = ANY(%s::text[]) THEN data ELSE '{}' END AS data,"
    " CASE WHEN type = ANY(%s::text[]) THEN metadata ELSE '{}' END AS metadata",
)


async def stream_visible(
    conn: psycopg.AsyncConnection[Any], part: int = 0, parts: int = 1, *, metadata: bool = True
) -> AsyncIterator[Recorded]:
    """Every event the caller's snapshot sees, in the order of ``read_all``, streamed by one binary COPY; with
    ``parts`` > 1, only the streams of partition ``part`` (by a hash of the stream id), each stream whole.

    For one-shot readers of the whole log (a replay) inside a single REPEATABLE READ transaction: the snapshot
    is fixed, so no event can appear behind the reader, and an old transaction elsewhere cannot cut it short
    as it would hold back ``read_all``. The server keeps sending while the caller works. With ``metadata``
    False each event's metadata is left out (``{}``), for readers that never look at it: parsing it is a
    tenth of the work per event.
    """
    where: sql.Composable = sql.SQL("")
    if parts > 1:
        where = sql.SQL("WHERE (hashtext(stream_id) & 2147483647) % {} = {}").format(parts, part)
    query = sql.SQL("COPY (SELECT {} FROM events {} ORDER BY tx_id, position) TO STDOUT (FORMAT BINARY)").format(
        sql.SQL(_COLUMNS if metadata else _COLUMNS.replace("metadata", "'{}'::jsonb")), where
    )
    async with conn.cursor().copy(query) as copy:
        copy.set_types(["int8", "int8", "uuid", "text", "int4", "text", "jsonb", "jsonb", "timestamptz"])
        async for row in copy.rows():
            yield make_recorded(row)


async def lock_stream(conn: psycopg.AsyncConnection[Any], stream_id: str) -> None:
    """Hold ``stream_id``'s row until the caller's transaction ends, so writers of a hot stream queue up.

    Only an optimisation for streams that many writers append to at once (the refunds of one payment): the
    expected-version check of ``append`` still decides who wins, but a writer that reads after taking the lock
    never loses, where N optimistic writers would burn up to N rounds of reload-and-retry.
    """
    await conn.execute("SELECT 1 FROM streams WHERE stream_id = %s FOR UPDATE", (stream_id,))


def quiet(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Nothing waits to be read on ``conn``. An idle connection whose server has since gone away (shut down,
    restarted, crashed) has its farewell or end-of-file waiting, so a caller about to send a write it could not
    take back can first find out, with a statement that writes nothing, that the server is gone."""
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable


def version_of(events: Sequence[Recorded]) -> int:
    """A stream's version after these events (0 for a new stream)."""
    return events[-1].stream_version if events else 0
