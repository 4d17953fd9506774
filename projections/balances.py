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
from projections import effects

NAME = "balances"
#: The event types this projection reads (a replay hands it no others).
TYPES = frozenset(
    {
        "payment.captured.v1",
        "payment.succeeded.v1",
        "refund.processed.v1",
        "refund.requested.v1",
    }
)

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


async def changes(event: Recorded, read: effects.Read) -> list[effects.Effect]:
    d = event.data
    out: list[effects.Effect] = [_posting(event, entry) for entry in entries(event)]
    match event.type:
        case "payment.succeeded.v1":
            out.append(_figures(d["merchant_id"], d["currency"], succeeded=int(d["amount"])))
        case "payment.captured.v1":
            # Only a successful payment is captured, and its `payments` row says in which currency.
            currency = await read("payments", {"id": d["payment_id"]}, "currency")
            assert currency is not None, f"capture of {d['payment_id']}, a payment never created"
            out.append(_figures(d["merchant_id"], currency, captured=int(d["amount"])))
        case "refund.requested.v1":
            out.append(_figures(d["merchant_id"], d["currency"], refunds_pending=int(d["amount"])))
        case "refund.processed.v1":
            amount = int(d["amount"])
            out.append(_figures(d["merchant_id"], d["currency"], refunds_pending=-amount, refunds_processed=amount))
    return out


apply = effects.applier(changes, TYPES)
#: The projection runner's batch form: a batch's entries, lines and balances in a few statements.
apply_many = effects.batch_applier(changes, TYPES)


def _posting(event: Recorded, entry: Entry) -> effects.Insert:
    """One entry, with its lines and their balances written only when the entry itself is: a second posting of
    the same entry changes nothing."""
    d, entry_id = event.data, entry.id(event.event_id)
    row = {
        "id": entry_id,
        "event_id": event.event_id,
        "leg": entry.leg,
        "position": event.position,
        "merchant_id": d["merchant_id"],
        "currency": d["currency"],
        "kind": entry.kind,
        "payment_id": d["payment_id"],
        "refund_id": d.get("refund_id"),
        "occurred_at": event.recorded_at,
    }
    then: list[effects.Effect] = []
    for line in entry.lines:
        then.append(
            effects.Insert(
                "ledger_lines",
                {"entry_id": entry_id, "account": line.account, "debit": line.debit, "credit": line.credit},
                key=("entry_id", "account"),
            )
        )
        then.append(
            effects.Tally(
                "ledger_balances",
                {"account": line.account, "currency": d["currency"]},
                {"debit": line.debit, "credit": line.credit},
            )
        )
    return effects.Insert("ledger_entries", row, then=tuple(then))


def _figures(
    merchant_id: str,
    currency: str,
    *,
    succeeded: int = 0,
    captured: int = 0,
    refunds_pending: int = 0,
    refunds_processed: int = 0,
) -> effects.Tally:
    add = {
        "succeeded": succeeded,
        "captured": captured,
        "refunds_pending": refunds_pending,
        "refunds_processed": refunds_processed,
    }
    return effects.Tally("merchant_balances", {"merchant_id": merchant_id, "currency": currency}, add)


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
