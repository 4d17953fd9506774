"""Creating a stream in one statement (ledger.append's ``also``, commands.Session.save_alone), against real
PostgreSQL: the read row rides in the append, both or neither are written, and rules that cannot ride fall back
to the transaction."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from storekit import app_connection, new_event, new_stream, session_on

import ledger
import projections
from commands import order
from commands.errors import ValidationFailed
from commands.handler import handle
from ledger import statements
from projections import effects

ORDER_ROW = "INSERT INTO orders (id, merchant_id, amount, currency, status, created_at, updated_at) SELECT %s, %s, %s, 'INR', 'created', now(), now() WHERE {} ON CONFLICT (id) DO NOTHING"  # noqa: E501


def riding_order(order_id: str, amount: Any = 100) -> tuple[str, tuple[Any, ...]]:
    return ORDER_ROW.format(ledger.IF_APPENDED), (order_id, str(uuid.uuid4()), amount)


async def count(conn: psycopg.AsyncConnection[Any], query: str, *params: Any) -> int:
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_riding_statement_is_written_with_the_append(app_conn: Any) -> None:
    sid, oid = new_stream(), f"order_{uuid.uuid4().hex[:14]}"
    recorded = await ledger.append(app_conn, sid, [new_event(1)], expected_version=0, also=[riding_order(oid)])
    assert [r.stream_version for r in recorded] == [1] and recorded[0].position > 0
    assert await count(app_conn, "SELECT count(*) FROM orders WHERE id = %s", oid) == 1


async def test_a_lost_race_writes_neither(app_conn: Any) -> None:
    sid, oid = new_stream(), f"order_{uuid.uuid4().hex[:14]}"
    await ledger.append(app_conn, sid, [new_event(1)], expected_version=0)
    with pytest.raises(ledger.ConcurrencyConflict):
        await ledger.append(app_conn, sid, [new_event(2)], expected_version=0, also=[riding_order(oid)])
    assert await count(app_conn, "SELECT count(*) FROM orders WHERE id = %s", oid) == 0
    assert await count(app_conn, "SELECT count(*) FROM events WHERE stream_id = %s", sid) == 1


async def test_a_failing_riding_statement_takes_the_append_with_it(app_conn: Any) -> None:
    sid, oid = new_stream(), f"order_{uuid.uuid4().hex[:14]}"
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        await ledger.append(app_conn, sid, [new_event(1)], expected_version=0, also=[riding_order(oid, "lots")])
    assert await count(app_conn, "SELECT count(*) FROM events WHERE stream_id = %s", sid) == 0
    assert await count(app_conn, "SELECT count(*) FROM streams WHERE stream_id = %s", sid) == 0


async def test_creating_an_order_is_one_statement_outside_any_transaction(
    app_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, Any]] = []
    real, real_fetch = app_conn.execute, statements.fetch

    async def execute(query: Any, params: Any = None, **kw: Any) -> Any:
        sent.append((str(query), app_conn.info.transaction_status))
        return await real(query, params, **kw)

    async def fetch(conn: Any, query: str, params: Any, *rest: Any) -> Any:
        sent.append((query, conn.info.transaction_status))
        return await real_fetch(conn, query, params, *rest)

    monkeypatch.setattr(app_conn, "execute", execute)
    monkeypatch.setattr(statements, "fetch", fetch)
    oid = f"order_{uuid.uuid4().hex[:14]}"
    command = order.CreateOrder(oid, str(uuid.uuid4()), 5000, "INR", "2026-12-03T10:00:00Z", notes={"k": "v"})
    (created,) = await handle(session_on(app_conn), order, order.stream_id(oid), command, new_stream=True)
    monkeypatch.undo()
    assert len(sent) == 1 and sent[0][1] == psycopg.pq.TransactionStatus.IDLE
    row = await (await app_conn.execute("SELECT amount, status, notes FROM orders WHERE id = %s", (oid,))).fetchone()
    assert row == (5000, "created", {"k": "v"})
    assert created.order_id == oid


async def test_a_stream_that_exists_after_all_is_loaded_and_decided_again(app_conn: Any) -> None:
    oid = f"order_{uuid.uuid4().hex[:14]}"
    command = order.CreateOrder(oid, str(uuid.uuid4()), 5000, "INR", "2026-12-03T10:00:00Z")
    await handle(session_on(app_conn), order, order.stream_id(oid), command, new_stream=True)
    # The same id again: the one-statement append conflicts, and the retry loads the order and refuses.
    with pytest.raises(ValidationFailed, match="already exists"):
        await handle(session_on(app_conn), order, order.stream_id(oid), command, new_stream=True)
    assert await count(app_conn, "SELECT count(*) FROM events WHERE stream_id = %s", order.stream_id(oid)) == 1


def pending(type_: str, data: dict[str, Any], version: int = 1) -> ledger.Recorded:
    return ledger.Recorded(0, 0, uuid.uuid4(), "payment-x", version, type_, data, {}, datetime.min.replace(tzinfo=UTC))


async def test_inserts_and_updates_of_distinct_rows_ride() -> None:
    created = {
        "payment_id": "pay_1", "order_id": "order_1", "merchant_id": str(uuid.uuid4()), "amount": 100,
        "currency": "INR", "method": "upi", "vpa": "a@b", "card_network": None, "card_last4": None,
        "created_at": "2026-12-03T10:00:00Z",
    }  # fmt: skip
    rides = await projections.project_inline.riding([pending("payment.created.v1", created)])
    assert rides is not None and len(rides) == 1 and rides[0][0].startswith("INSERT INTO")
    decided = {"payment_id": "pay_1", "decided_at": "2026-12-03T10:00:01Z"}
    rides = await projections.project_inline.riding([pending("payment.succeeded.v1", decided)])
    assert rides is not None and len(rides) == 1 and rides[0][0].startswith("UPDATE")
    twice = [effects.Insert("payments", {"id": "pay_1"}), effects.Insert("payments", {"id": "pay_1"})]
    assert effects.riding(twice, "true") is None
    inserted_then_updated = [effects.Insert("payments", {"id": "pay_1"}), effects.Update("payments", {"id": "pay_1"})]
    assert effects.riding(inserted_then_updated, "true") is None
    assert effects.riding([effects.Tally("payment_stats", {"merchant_id": "m"}, {"count": 1})], "true") is None
    then = effects.Insert("ledger_entries", {"id": 1}, then=(effects.Insert("ledger_lines", {"id": 1}),))
    assert effects.riding([then], "true") is None
    reads_the_first = effects.Update("payments", {"id": "pay_1"}, {"currency": effects.Col("status")})
    assert effects.riding([effects.Update("payments", {"id": "pay_1"}, {"status": "x"}), reads_the_first], "t") is None


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        (({"a": 1, "b": 2}, {}), ({"b": 3, "c": 4}, {}), ({"a": 1, "b": 3, "c": 4}, {})),
        (({}, {"n": 1}), ({}, {"n": 2, "m": 1}), ({}, {"n": 3, "m": 1})),
        (({"a": effects.Col("b")}, {"n": 5}), ({"b": 1, "n": 0}, {}), ({"a": effects.Col("b"), "b": 1, "n": 0}, {})),
    ],
)
async def test_successive_updates_of_a_row_ride_as_one_that_does_both(
    store: str, owner: Any, first: Any, second: Any, merged: Any
) -> None:
    """Merged as written here, and, run against a real row, leaving it as the two updates one after the other do."""
    ups = [effects.Update("ride_probe", {"id": 1}, values, add) for values, add in (first, second)]
    rides = effects.riding(ups, "true")
    assert rides is not None and len(rides) == 1
    await owner.execute("CREATE TEMP TABLE ride_probe (id int primary key, a int, b int, c int, n int, m int)")
    try:
        results = []
        for statements in ([(s, p) for s, p in rides], None):
            await owner.execute("DELETE FROM ride_probe")
            await owner.execute("INSERT INTO ride_probe VALUES (1, 10, 20, 30, 40, 50)")
            if statements is None:
                await effects.execute(owner, ups)
            else:
                for text, params in statements:
                    await owner.execute(text, params)
            row = await (await owner.execute("SELECT a, b, c, n, m FROM ride_probe")).fetchone()
            results.append(row)
        assert results[0] == results[1]
    finally:
        await owner.execute("DROP TABLE ride_probe")
    assert effects._then(*ups) == effects.Update("ride_probe", {"id": 1}, *merged)


async def test_a_connection_the_server_dropped_is_not_quiet_and_the_write_goes_by_a_transaction(
    store: str, owner: Any
) -> None:
    async with app_connection(store) as conn:
        assert ledger.quiet(conn)
        pid = conn.info.backend_pid
        await owner.execute("SELECT pg_terminate_backend(%s)", (pid,))
        poll_until = 200
        while ledger.quiet(conn) and poll_until:  # the farewell reaches the socket a moment later
            await asyncio.sleep(0.01)
            poll_until -= 1
        assert not ledger.quiet(conn)
        oid = f"order_{uuid.uuid4().hex[:14]}"
        command = order.CreateOrder(oid, str(uuid.uuid4()), 5000, "INR", "2026-12-03T10:00:00Z")
        ledger.APPENDED.set(False)
        with pytest.raises(psycopg.OperationalError):
            await handle(session_on(conn), order, order.stream_id(oid), command, new_stream=True)
        # BEGIN failed before any write was sent: the outcome is known (nothing written), not "commit unknown".
        assert ledger.APPENDED.get() is False
