"""Object histories read straight from the log: an object's events, a merchant's feed, an object as it stood.

The log is the truth, so "as it stood at T" is the object's events up to T folded by the very projectors that
keep the live tables, into temporary copies of those tables that are dropped with the transaction.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql

import ledger
from ledger import Cursor, Recorded, recorded_rows
from projections.timefmt import micro

#: Fields never shown in a history: one-way hashes and ciphertext of secrets (no secret is in plain text
#: anywhere, and the log holds no card number or CVV at all).
_HIDDEN_SUFFIXES = ("_hash", "_sealed")


def public_type(stored: str) -> tuple[str, int]:
    """``payment.created.v1`` → (``payment.created``, 1)."""
    name, _, version = stored.rpartition(".v")
    return (name, int(version)) if name and version.isdigit() else (stored, 1)


def item(event: Recorded) -> dict[str, Any]:
    """The public form of one event."""
    name, version = public_type(event.type)
    meta = event.metadata
    caused_by = {k: meta[k] for k in ("actor", "request_id", "causation_id", "correlation_id") if meta.get(k)}
    if "causation" in meta and "causation_id" not in caused_by:
        caused_by["causation_id"] = meta["causation"]
    caused_by.setdefault("actor", "api" if "request_id" in meta else "system")
    return {
        "id": str(event.event_id),
        "type": name,
        "version": version,
        "stream": event.stream_id,
        "stream_version": event.stream_version,
        "recorded_at": ledger_stamp(event.recorded_at),
        "data": {k: v for k, v in event.data.items() if not k.endswith(_HIDDEN_SUFFIXES)},
        "caused_by": caused_by,
    }


def ledger_stamp(at: datetime) -> str:
    """Event times to the microsecond (ISO 8601 UTC), so any one of them can be given back as ``as_of``."""
    return micro(at)


def owner(events: Sequence[Recorded]) -> str | None:
    """The merchant a stream belongs to: its first event names it."""
    return str(events[0].data.get("merchant_id")) if events else None


def cursor_text(c: Cursor) -> str:
    return f"{c.tx_id}-{c.position}"


def parse_cursor(text: str) -> Cursor | None:
    """The cursor ``next`` gave out, or None when ``text`` is not one."""
    tx, sep, pos = text.partition("-")
    if not sep or not tx.isascii() or not pos.isascii() or not tx.isdigit() or not pos.isdigit():
        return None
    if len(tx) > 19 or len(pos) > 19 or int(tx) >= 2**63 or int(pos) >= 2**63:
        return None
    return Cursor(int(tx), int(pos))


async def feed(conn: psycopg.AsyncConnection[Any], merchant_id: str, after: Cursor, limit: int) -> list[Recorded]:
    """The merchant's events after ``after`` in commit order: the gate of ``ledger.read_all`` (only below the
    oldest transaction in flight, ordered by transaction id) so a reader never skips a late commit, filtered
    to streams whose first event names this merchant.

    The owner is a scalar subquery on purpose: written as EXISTS the planner may turn it into a join that
    probes the commit-order index once per stream (11 s on 10,000 events); as a scalar it filters rows read in
    commit order with one unique-index probe each (66 ms)."""
    async with conn.cursor(row_factory=recorded_rows) as cur:
        await cur.execute(
            """SELECT e.position, e.tx_id::text::bigint AS tx_id, e.event_id, e.stream_id, e.stream_version, e.type,
                      e.data, e.metadata, e.recorded_at
               FROM events e
               WHERE (e.tx_id, e.position) > (%s::text::xid8, %s)
                 AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
                 AND (SELECT f.data->>'merchant_id' FROM events f
                      WHERE f.stream_id = e.stream_id AND f.stream_version = 1) = %s
               ORDER BY e.tx_id, e.position
               LIMIT %s""",
            (str(after.tx_id), after.position, merchant_id, limit),
        )
        return await cur.fetchall()


class _Discard(Exception):
    """Rolls the scratch transaction back, carrying what was read inside it."""

    def __init__(self, result: Any) -> None:
        self.result = result


async def folded(
    conn: psycopg.AsyncConnection[Any],
    events: Sequence[Recorded],
    models: Sequence[ModuleType],
    read: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]],
) -> Any:
    """``read`` run against temporary copies of ``models``' tables holding only ``events``, then discarded.

    Temporary tables come first on the search path, so the projectors' unqualified names land in them.
    """
    try:
        async with conn.transaction():
            for model in models:
                await conn.execute(
                    sql.SQL("CREATE TEMP TABLE {} (LIKE public.{} INCLUDING ALL) ON COMMIT DROP").format(
                        sql.Identifier(model.NAME), sql.Identifier(model.NAME)
                    )
                )
            for event in events:
                for model in models:
                    await model.apply(conn, event)
            raise _Discard(await read(conn))
    except _Discard as done:
        return done.result


async def stream_until(conn: psycopg.AsyncConnection[Any], stream_id: str, at: datetime | None) -> list[Recorded]:
    """A stream's events, only those recorded at or before ``at`` when given."""
    events = await ledger.read_stream(conn, stream_id)
    return events if at is None else [e for e in events if e.recorded_at <= at]


async def payment_at(
    conn: psycopg.AsyncConnection[Any], payment_id: str, merchant_id: str, at: datetime
) -> dict[str, Any] | None:
    """The ``payments`` row of a payment as it stood at ``at`` (None: not yet created, or not this merchant's)."""
    from projections import payments

    events = await stream_until(conn, f"payment-{payment_id}", at)
    if owner(events) != merchant_id:
        return None
    row: dict[str, Any] | None = await folded(
        conn, events, (payments,), lambda c: payments.get(c, payment_id, merchant_id)
    )
    return row


async def order_at(
    conn: psycopg.AsyncConnection[Any], order_id: str, merchant_id: str, at: datetime
) -> dict[str, Any] | None:
    from projections import orders

    events = await stream_until(conn, f"order-{order_id}", at)
    if owner(events) != merchant_id:
        return None
    row: dict[str, Any] | None = await folded(conn, events, (orders,), lambda c: orders.get(c, order_id, merchant_id))
    return row


async def refund_at(
    conn: psycopg.AsyncConnection[Any], payment_id: str, refund_id: str, merchant_id: str, at: datetime
) -> dict[str, Any] | None:
    from projections import refunds

    events = await stream_until(conn, f"payment-{payment_id}", at)
    if owner(events) != merchant_id:
        return None
    row: dict[str, Any] | None = await folded(
        conn, events, (refunds,), lambda c: refunds.get(c, refund_id, merchant_id)
    )
    return row
