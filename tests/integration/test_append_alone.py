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
    real = app_conn.execute

    async def execute(query: Any, params: Any = None, **kw: Any) -> Any:
        sent.append((str(query), app_conn.info.transaction_status))
        return await real(query, params, **kw)

    monkeypatch.setattr(app_conn, "execute", execute)
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


async def test_only_plain_inserts_of_distinct_rows_ride() -> None:
    created = {
        "payment_id": "pay_1", "order_id": "order_1", "merchant_id": str(uuid.uuid4()), "amount": 100,
        "currency": "INR", "method": "upi", "vpa": "a@b", "card_network": None, "card_last4": None,
        "created_at": "2026-12-03T10:00:00Z",
    }  # fmt: skip
    rides = await projections.project_inline.riding([pending("payment.created.v1", created)])
    assert rides is not None and len(rides) == 1 and rides[0][0].startswith("INSERT INTO")
    decided = {"payment_id": "pay_1", "decided_at": "2026-12-03T10:00:01Z"}
    assert await projections.project_inline.riding([pending("payment.succeeded.v1", decided)]) is None
    twice = [effects.Insert("payments", {"id": "pay_1"}), effects.Insert("payments", {"id": "pay_1"})]
    assert effects.riding(twice, "true") is None


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
