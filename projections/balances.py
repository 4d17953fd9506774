"""Money as double entry: every money event posted as balanced entries, kept by the projection runner.

A successful payment moves its amount from the acquirer (who owes it to us) to the merchant (whom we owe);
a processed refund moves it back through refund clearing. Per currency, each entry's debits equal its
credits, so all balances of a currency sum to zero, and a merchant's payable balance is their successful
payments minus their processed refunds. Beside the book the same projection keeps each merchant's figures
(captured, refunds pending) that move no money.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ledger import Recorded

NAME = "balances"

ACQUIRER_RECEIVABLE = "acquirer-receivable"
REFUND_CLEARING = "refund-clearing"
#: Entry ids are uuid5(this, "event id:leg"): stable across replays and rebuilds.
ENTRY_NAMESPACE = uuid.UUID("6f1c1d2e-9a57-4c1b-8f0e-2a4d3c5b7e91")


def merchant_payable(merchant_id: str) -> str:
    return f"merchant-payable:{merchant_id}"


@dataclass(frozen=True)
class Line:
    account: str
    debit: int = 0
    credit: int = 0


@dataclass(frozen=True)
class Entry:
    """One balanced posting: ``leg`` names it within its event."""

    leg: str
    kind: str
    lines: tuple[Line, ...]

    def id(self, event_id: uuid.UUID) -> uuid.UUID:
        return uuid.uuid5(ENTRY_NAMESPACE, f"{event_id}:{self.leg}")


def _move(leg: str, kind: str, amount: int, *, debit: str, credit: str) -> Entry:
    return Entry(leg, kind, (Line(debit, debit=amount), Line(credit, credit=amount)))


def entries(event: Recorded) -> list[Entry]:
    """The entries an event posts (none for events that move no money)."""
    d = event.data
    match event.type:
        case "payment.succeeded.v1":
            payable = merchant_payable(d["merchant_id"])
            return [_move("settle", "payment", int(d["amount"]), debit=ACQUIRER_RECEIVABLE, credit=payable)]
        case "refund.processed.v1":
            amount, payable = int(d["amount"]), merchant_payable(d["merchant_id"])
            return [
                _move("payable", "refund", amount, debit=payable, credit=REFUND_CLEARING),
                _move("clearing", "refund", amount, debit=REFUND_CLEARING, credit=ACQUIRER_RECEIVABLE),
            ]
    return []


async def apply(conn: psycopg.AsyncConnection[Any], event: Recorded) -> None:
    d = event.data
    for entry in entries(event):
        await _post(conn, event, entry)
    match event.type:
        case "payment.succeeded.v1":
            await _figures(conn, d["merchant_id"], d["currency"], succeeded=int(d["amount"]))
        case "payment.captured.v1":
            await _figures(conn, d["merchant_id"], await _currency_of(conn, d["payment_id"]), captured=int(d["amount"]))
        case "refund.requested.v1":
            await _figures(conn, d["merchant_id"], d["currency"], refunds_pending=int(d["amount"]))
        case "refund.processed.v1":
            amount = int(d["amount"])
            await _figures(conn, d["merchant_id"], d["currency"], refunds_pending=-amount, refunds_processed=amount)


async def _post(conn: psycopg.AsyncConnection[Any], event: Recorded, entry: Entry) -> None:
    """Write one entry, its lines and their balances, unless that entry was posted already.

    One statement: the lines and balances are written only for an entry row this statement inserted, so a
    second posting of the same entry changes nothing, and nobody waits for an answer in between (a replay
    pipelines its statements)."""
    d = event.data
    lines = ", ".join(["(%s, %s::bigint, %s::bigint)"] * len(entry.lines))
    params: list[Any] = [
        entry.id(event.event_id),
        event.event_id,
        entry.leg,
        event.position,
        d["merchant_id"],
        d["currency"],
        entry.kind,
        d["payment_id"],
        d.get("refund_id"),
        event.recorded_at,
    ]
    for line in entry.lines:
        params += (line.account, line.debit, line.credit)
    params.append(d["currency"])
    # Distinct accounts per entry (the lines' primary key), so no balance row is updated twice in the statement.
    await conn.execute(
        f"""WITH entry AS (
                INSERT INTO ledger_entries (id, event_id, leg, position, merchant_id, currency, kind, payment_id,
                    refund_id, occurred_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id),
            lines AS (
                INSERT INTO ledger_lines (entry_id, account, debit, credit)
                SELECT entry.id, l.account, l.debit, l.credit FROM entry, (VALUES {lines}) AS l(account, debit, credit)
                RETURNING account, debit, credit)
            INSERT INTO ledger_balances AS b (account, currency, debit, credit)
            SELECT account, %s, debit, credit FROM lines
            ON CONFLICT (account, currency) DO UPDATE
            SET debit = b.debit + EXCLUDED.debit, credit = b.credit + EXCLUDED.credit""",
        params,
    )


async def _currency_of(conn: psycopg.AsyncConnection[Any], payment_id: str) -> str:
    """A payment's currency, from its own settle entry: only successful payments are captured."""
    cur = await conn.execute(
        "SELECT currency FROM ledger_entries WHERE payment_id = %s AND kind = 'payment' LIMIT 1", (payment_id,)
    )
    row = await cur.fetchone()
    assert row is not None, f"capture of {payment_id} before its success"
    return str(row[0])


async def _figures(
    conn: psycopg.AsyncConnection[Any],
    merchant_id: str,
    currency: str,
    *,
    succeeded: int = 0,
    captured: int = 0,
    refunds_pending: int = 0,
    refunds_processed: int = 0,
) -> None:
    await conn.execute(
        """INSERT INTO merchant_balances AS m
               (merchant_id, currency, succeeded, captured, refunds_pending, refunds_processed)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (merchant_id, currency) DO UPDATE SET
               succeeded = m.succeeded + EXCLUDED.succeeded,
               captured = m.captured + EXCLUDED.captured,
               refunds_pending = m.refunds_pending + EXCLUDED.refunds_pending,
               refunds_processed = m.refunds_processed + EXCLUDED.refunds_processed""",
        (merchant_id, currency, succeeded, captured, refunds_pending, refunds_processed),
    )


# ---------------------------------------------------------------- queries


async def of_merchant(conn: psycopg.AsyncConnection[Any], merchant_id: str) -> list[dict[str, Any]]:
    """A merchant's figures per currency, with the payable balance read from the book itself."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT m.currency, m.succeeded, m.captured, m.refunds_pending, m.refunds_processed,
                      coalesce(b.credit - b.debit, 0) AS payable
               FROM merchant_balances m
               LEFT JOIN ledger_balances b ON b.account = %s AND b.currency = m.currency
               WHERE m.merchant_id = %s ORDER BY m.currency""",
            (merchant_payable(merchant_id), merchant_id),
        )
        # The sums are numeric (they never overflow): back to int, the type every reader expects.
        return [{k: v if k == "currency" else int(v) for k, v in r.items()} for r in await cur.fetchall()]


async def page(conn: psycopg.AsyncConnection[Any], merchant_id: str, *, count: int, skip: int) -> list[dict[str, Any]]:
    """A merchant's entries with their lines, newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT e.id::text AS id, e.event_id::text AS event_id, e.leg, e.kind, e.currency, e.payment_id,
                      e.refund_id, e.occurred_at,
                      (SELECT json_agg(json_build_object('account', l.account, 'debit', l.debit, 'credit', l.credit)
                                       ORDER BY l.debit DESC, l.account)
                       FROM ledger_lines l WHERE l.entry_id = e.id) AS lines
               FROM ledger_entries e WHERE e.merchant_id = %s
               ORDER BY e.position DESC, e.leg LIMIT %s OFFSET %s""",
            (merchant_id, count, skip),
        )
        return await cur.fetchall()
