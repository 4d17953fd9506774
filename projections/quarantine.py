"""Quarantine: an event a log follower cannot handle is set aside, so it never stops the system.

The log is append-only, so a poison event (one whose effect fails: a sum out of range, a field missing) would
otherwise fail its batch for ever and stall every follower behind it. Each event is applied in a savepoint;
when it fails, the savepoint rolls back, the event is recorded here with the follower and the error, and the
follower moves on. An operator fixes the cause and runs ``paygate quarantine retry``, which applies the event
again and clears the row once it succeeds.

Infrastructure faults (the connection lost, a statement timeout, a deadlock) are not the event's fault: they
are raised, so the follower's own retry loop repeats the batch instead of setting good events aside.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg.rows import dict_row

from ledger import Recorded, read_event

log = structlog.get_logger(__name__)

T = TypeVar("T")
Apply = Callable[[psycopg.AsyncConnection[Any], Recorded], Awaitable[Any]]
#: A follower's work for several events at once, returning what it produced (jobs to enqueue, say).
ApplyMany = Callable[[psycopg.AsyncConnection[Any], Sequence[Recorded]], Awaitable[list[T]]]

#: Errors of the connection or of concurrency, which a retry of the batch can cure.
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)
#: Stored error texts are cut to this many characters (a driver's message may quote a whole row).
MAX_ERROR = 2000


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]


def each(apply: Apply) -> ApplyMany[Any]:
    """A one-event ``apply`` as the batch form ``apply_all`` takes."""

    async def apply_many(conn: psycopg.AsyncConnection[Any], events: Sequence[Recorded]) -> list[Any]:
        for event in events:
            await apply(conn, event)
        return []

    return apply_many


async def apply_all(
    conn: psycopg.AsyncConnection[Any],
    follower: str,
    events: Sequence[Recorded],
    apply_many: ApplyMany[T],
    *,
    one_write: bool = False,
) -> list[T]:
    """``apply_many(events)`` in one savepoint; if it fails, each event again in a savepoint of its own, the
    ones that fail quarantined for ``follower``. The whole batch first: a savepoint per event would cost two
    round trips each on the hot path, and a poison event is rare. The whole batch runs in pipeline mode: its
    statements go out without waiting for each other's results (one that reads waits for what came before).

    ``one_write``: ``apply_many`` on an autocommit connection writes in one statement at most, its last, so it is
    atomic by itself and the batch runs bare, without the transaction and the pipeline's machinery."""
    if not events:
        return []
    try:
        if one_write and conn.autocommit:
            return await apply_many(conn, events)
        async with conn.pipeline(), conn.transaction():
            return await apply_many(conn, events)
    except _TRANSIENT:
        raise
    except Exception:  # noqa: S110 -- found and recorded event by event below
        pass
    out: list[T] = []
    for event in events:
        await guarded(conn, follower, event, lambda c, e: _extend(out, apply_many(c, [e])))
    return out


async def apply_each(
    conn: psycopg.AsyncConnection[Any], work: Sequence[tuple[str, Sequence[Recorded], ApplyMany[Any]]]
) -> None:
    """``apply_all`` for several followers' (name, events, apply_many) in turn, in one savepoint and one
    pipeline while none fails: the projection runner's models, whose savepoints and pipeline syncs were a
    tenth of its work. If one fails, each follower's events again as ``apply_all`` takes them."""
    work = [w for w in work if w[1]]
    if not work:
        return
    try:
        async with conn.pipeline(), conn.transaction():
            for _, events, apply_many in work:
                await apply_many(conn, events)
        return
    except _TRANSIENT:
        raise
    except Exception:  # noqa: S110 -- found and recorded follower by follower below
        pass
    for follower, events, apply_many in work:
        await apply_all(conn, follower, events, apply_many)


async def _extend(out: list[T], produced: Awaitable[list[T]]) -> None:
    out.extend(await produced)


async def guarded(conn: psycopg.AsyncConnection[Any], follower: str, event: Recorded, apply: Apply) -> bool:
    """Apply ``event`` in a savepoint; on failure quarantine it for ``follower`` and return False.

    Must run inside the follower's transaction, so the quarantine row commits with its checkpoint."""
    try:
        async with conn.transaction():
            await apply(conn, event)
        return True
    except _TRANSIENT:
        raise
    except Exception as exc:
        await record(conn, follower, event, exc)
        return False


async def record(conn: psycopg.AsyncConnection[Any], follower: str, event: Recorded, exc: BaseException) -> None:
    """Set ``event`` aside for ``follower`` (again: a repeat only refreshes the error), log it as an error."""
    error = describe(exc)
    await conn.execute(
        """INSERT INTO quarantined_events (follower, event_id, position, event_type, error)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (follower, event_id) DO UPDATE SET error = EXCLUDED.error, quarantined_at = now()""",
        (follower, event.event_id, event.position, event.type, error),
    )
    log.error(
        "event.quarantined",
        follower=follower,
        event_id=str(event.event_id),
        position=event.position,
        event_type=event.type,
        error=error,
    )


async def count(conn: psycopg.AsyncConnection[Any]) -> int:
    """How many events are quarantined now (for health details and metrics)."""
    cur = await conn.execute("SELECT count(*) FROM quarantined_events")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def listing(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT id, follower, event_id::text, position, event_type, error, quarantined_at, attempts
               FROM quarantined_events ORDER BY id"""
        )
        return await cur.fetchall()


async def retry(
    conn: psycopg.AsyncConnection[Any], appliers: dict[str, Apply], ids: list[int] | None = None
) -> list[tuple[int, str | None]]:
    """Apply quarantined events again (those of ``ids``, or all), each in its own transaction; a success
    clears its row. Returns (row id, None on success or the new error text) per row tried."""
    rows = [r for r in await listing(conn) if ids is None or r["id"] in ids]
    results: list[tuple[int, str | None]] = []
    for row in rows:
        error: str | None = None
        try:
            async with conn.transaction():
                # Lock the row: two operators retrying at once apply the event once.
                cur = await conn.execute("SELECT 1 FROM quarantined_events WHERE id = %s FOR UPDATE", (row["id"],))
                if await cur.fetchone() is None:
                    continue
                apply = appliers.get(row["follower"])
                event = await read_event(conn, row["event_id"])
                if apply is None or event is None:
                    raise LookupError(f"no follower {row['follower']!r}" if apply is None else "event not found")
                await apply(conn, event)
                await conn.execute("DELETE FROM quarantined_events WHERE id = %s", (row["id"],))
            log.info("event.unquarantined", follower=row["follower"], event_id=row["event_id"])
        except Exception as exc:
            error = describe(exc)
            await conn.execute(
                "UPDATE quarantined_events SET error = %s, attempts = attempts + 1 WHERE id = %s",
                (error, row["id"]),
            )
        results.append((row["id"], error))
    return results
