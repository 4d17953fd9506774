"""The double-entry book under random histories of payments, captures and refunds, on real PostgreSQL.

Hypothesis drives the real command handlers (so refused commands are refused as in production), then the
balances projection catches up, and after every history: each entry balances, all balances of a currency sum
to zero, every merchant's payable is their successful payments minus their processed refunds, and folding
the log through the posting rules gives the very balances the tables hold. A last test rebuilds every read
table from the accumulated log and finds them equal to the live ones.
"""

import asyncio
import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storekit import app_connection, owner_connection, session_on

import ledger
from commands import handle, order, payment, refund
from commands.errors import DomainError
from commands.usecases import create_payment, settle_payment
from projections import balances, checkpoints, rebuild, runner

AT = "2030-06-15T10:00:00.000000Z"
CURRENCIES = ("INR", "USD")

Pay = st.tuples(
    st.just("pay"), st.integers(0, 1), st.sampled_from(CURRENCIES), st.integers(100, 100_000), st.booleans()
)
Capture = st.tuples(st.just("capture"), st.integers(0, 50), st.booleans())
Refund = st.tuples(st.just("refund"), st.integers(0, 50), st.one_of(st.none(), st.integers(-5, 60_000)))
Process = st.tuples(st.just("process"), st.integers(0, 50))
History = st.lists(st.one_of(Pay, Capture, Refund, Process), min_size=1, max_size=25)


@dataclass
class Expected:
    """What the history did, per (merchant, currency), from the events the handlers returned."""

    succeeded: Counter[tuple[str, str]] = field(default_factory=Counter)
    captured: Counter[tuple[str, str]] = field(default_factory=Counter)
    requested: Counter[tuple[str, str]] = field(default_factory=Counter)
    processed: Counter[tuple[str, str]] = field(default_factory=Counter)


@dataclass
class Paid:
    payment_id: str
    merchant_id: str
    amount: int
    currency: str


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner_:
        yield runner_


async def play(store: str, history: list[tuple[Any, ...]]) -> tuple[list[str], Expected]:
    """Run ``history`` through the command handlers for two new merchants; returns them and what happened."""
    merchants = [str(uuid.uuid4()), str(uuid.uuid4())]
    expected, payments, refunds = Expected(), list[Paid](), list[tuple[str, str]]()
    async with app_connection(store) as conn:
        session = session_on(conn)
        for op in history:
            match op:
                case ("pay", m, currency, amount, ok):
                    order_id, payment_id = f"order_{uuid.uuid4().hex[:16]}", f"pay_{uuid.uuid4().hex[:16]}"
                    merchant_id = merchants[m]
                    await handle(
                        session,
                        order,
                        order.stream_id(order_id),
                        order.CreateOrder(order_id, merchant_id, amount, currency, AT),
                    )
                    snapshot = payment.OrderSnapshot(order_id, amount, currency, paid=False)
                    await create_payment(
                        session,
                        payment.CreatePayment(payment_id, merchant_id, snapshot, "upi", AT, 2030, 6, vpa="a@b"),
                    )
                    await settle_payment(session, payment_id, payment.DecidePayment(AT, None if ok else "declined"))
                    payments.append(Paid(payment_id, merchant_id, amount, currency))
                    if ok:
                        expected.succeeded[merchant_id, currency] += amount
                case ("capture", i, exact) if payments:
                    p = payments[i % len(payments)]
                    command = payment.CapturePayment(p.merchant_id, p.amount if exact else p.amount + 1, AT)
                    for e in await _attempt(session, p.payment_id, command):
                        expected.captured[p.merchant_id, p.currency] += e.amount
                case ("refund", i, amount) if payments:
                    p = payments[i % len(payments)]
                    refund_id = f"rfnd_{uuid.uuid4().hex[:16]}"
                    command = refund.RequestRefund(refund_id, p.payment_id, p.merchant_id, amount, None, AT)
                    for e in await _attempt(session, p.payment_id, command):
                        expected.requested[p.merchant_id, p.currency] += e.amount
                        refunds.append((p.payment_id, refund_id))
                case ("process", i) if refunds:
                    payment_id, refund_id = refunds[i % len(refunds)]
                    for e in await _attempt(session, payment_id, refund.ProcessRefund(refund_id, AT)):
                        expected.processed[e.merchant_id, e.currency] += e.amount
    return merchants, expected


async def _attempt(session: Any, payment_id: str, command: Any) -> list[Any]:
    """The events a command decided, or none when a rule refused it."""
    try:
        return await handle(session, payment, payment.stream_id(payment_id), command)
    except DomainError:
        return []


async def catch_up(store: str, timeout: float = 30) -> None:
    """Run the balances projection until its checkpoint is at the last event of the log."""
    async with app_connection(store) as conn:
        cur = await conn.execute("SELECT tx_id::text::bigint, position FROM events ORDER BY tx_id DESC, position DESC")
        tail = await cur.fetchone() or (0, 0)  # an empty history: the checkpoint stays at its start
        deadline = time.monotonic() + timeout
        while (
            await runner.catch_up(conn, balances)
            or dataclasses.astuple(await checkpoints.load(conn, balances.NAME)) != tail
        ):
            assert time.monotonic() < deadline, "the balances projection did not catch up"
            await asyncio.sleep(0.05)


async def rows(conn: Any, query: str, *params: Any) -> list[tuple[Any, ...]]:
    cur = await conn.execute(query, params)
    return list(await cur.fetchall())


async def check(store: str, merchants: list[str], expected: Expected) -> None:
    async with app_connection(store) as conn:
        unbalanced = await rows(
            conn,
            """SELECT e.id FROM ledger_entries e LEFT JOIN ledger_lines l ON l.entry_id = e.id
               GROUP BY e.id HAVING count(l.account) < 2 OR sum(l.debit) <> sum(l.credit)""",
        )
        assert unbalanced == [], "every entry's debits equal its credits"

        totals = await rows(conn, "SELECT currency, sum(debit - credit) FROM ledger_balances GROUP BY currency")
        assert all(total == 0 for _, total in totals), totals

        from_lines = await rows(
            conn,
            """SELECT l.account, e.currency, sum(l.debit), sum(l.credit) FROM ledger_lines l
               JOIN ledger_entries e ON e.id = l.entry_id GROUP BY 1, 2 ORDER BY 1, 2""",
        )
        kept = await rows(conn, "SELECT account, currency, debit, credit FROM ledger_balances ORDER BY 1, 2")
        assert from_lines == kept, "the running balances are the sums of the lines"

        for merchant_id in merchants:
            figures = {r["currency"]: r for r in await balances.of_merchant(conn, merchant_id)}
            for currency in CURRENCIES:
                key = (merchant_id, currency)
                got = figures.get(currency)
                payable = got["payable"] if got else 0
                assert payable == expected.succeeded[key] - expected.processed[key]
                if got:
                    assert (got["succeeded"], got["captured"], got["refunds_processed"]) == (
                        expected.succeeded[key],
                        expected.captured[key],
                        expected.processed[key],
                    )
                    assert got["refunds_pending"] == expected.requested[key] - expected.processed[key]
                else:
                    assert not (expected.succeeded[key] or expected.requested[key] or expected.captured[key])

        assert await fold_log(conn) == {(a, c): d - k for a, c, d, k in kept}, "the log folds to the same balances"


async def fold_log(conn: Any) -> dict[tuple[str, str], int]:
    """Debit-minus-credit per (account, currency), computed afresh from the whole log by the posting rules."""
    folded: Counter[tuple[str, str]] = Counter()
    cursor = ledger.Cursor()
    while batch := await ledger.read_all(conn, cursor, 1000):
        for event in batch:
            for entry in balances.entries(event):
                for line in entry.lines:
                    folded[line.account, event.data["currency"]] += line.debit - line.credit
        cursor = ledger.Cursor(batch[-1].tx_id, batch[-1].position)
    return {k: v for k, v in folded.items()}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=History)
def test_random_histories_keep_the_book_balanced(loop: asyncio.Runner, store: str, history: list[Any]) -> None:
    merchants, expected = loop.run(play(store, history))
    loop.run(catch_up(store))
    loop.run(check(store, merchants, expected))


def test_a_rebuild_from_the_log_gives_the_same_books(loop: asyncio.Runner, store: str) -> None:
    """Runs after the random histories (same module database): every read table rebuilt equals the live one."""

    async def rebuilt() -> list[rebuild.TableReport]:
        await play(store, [("pay", 0, "INR", 50000, True), ("refund", 0, 20000), ("process", 0), ("capture", 0, True)])
        await catch_up(store)
        async with owner_connection(store) as owner:
            await rebuild.replay(owner)
            return await rebuild.compare(owner)

    reports = {r.table: r for r in loop.run(rebuilt())}
    for table in ("ledger_entries", "ledger_lines", "ledger_balances", "merchant_balances", "refunds", "payments"):
        assert reports[table].live_rows > 0, table
        assert reports[table].equal, reports[table]
