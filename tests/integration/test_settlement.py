"""Settling payments under concurrency: each payment is decided once, and an order is paid by one payment only."""

import asyncio
import uuid
from typing import Any

import pytest
from storekit import app_connection, session_on

import ledger
from commands import Snapshots, handle, merchant, order, payment
from commands.errors import OrderAlreadyPaid
from commands.usecases import (
    create_payment,
    load_order,
    pay_order,
    register_merchant,
    settle_payment,
    settle_payments,
)

AT = "2030-06-15T10:00:00.000000Z"


@pytest.fixture(scope="module")
async def merchant_id(store: str) -> str:
    mid = str(uuid.uuid4())
    async with app_connection(store) as conn:
        command = merchant.RegisterMerchant(mid, "Shop", f"{mid}@shop.test", f"key_{mid}", "s", "whsec_x", AT)
        await register_merchant(session_on(conn), command)
    return mid


async def new_order(conn: Any, merchant_id: str) -> str:
    order_id = f"order_{uuid.uuid4().hex[:16]}"
    command = order.CreateOrder(order_id, merchant_id, 50000, "INR", AT)
    await handle(session_on(conn), order, order.stream_id(order_id), command)
    return order_id


async def new_payment(conn: Any, merchant_id: str, order_id: str) -> str:
    session = session_on(conn)
    o = await load_order(session, order_id, merchant_id)
    payment_id = f"pay_{uuid.uuid4().hex[:16]}"
    snapshot = payment.OrderSnapshot(o.order_id, o.amount, o.currency, o.paid)
    command = payment.CreatePayment(payment_id, merchant_id, snapshot, "upi", AT, 2030, 6, vpa="a@b")
    await create_payment(session, command)
    return payment_id


async def stream_types(conn: Any, stream_id: str) -> list[str]:
    return [r.type for r in await ledger.read_stream(conn, stream_id)]


async def settle_concurrently(store: str, jobs: list[tuple[str, str | None]]) -> list[list[Any]]:
    """Run each (payment id, failure reason) settlement on a connection of its own, all released at once."""
    go = asyncio.Event()

    async def one(payment_id: str, reason: str | None) -> list[Any]:
        async with app_connection(store) as conn:
            await go.wait()
            return await settle_payment(session_on(conn), payment_id, payment.DecidePayment(AT, reason))

    tasks = [asyncio.create_task(one(*job)) for job in jobs]
    await asyncio.sleep(0.2)
    go.set()
    return await asyncio.gather(*tasks)


async def test_ten_settlements_of_one_payment_decide_it_once(store: str, merchant_id: str) -> None:
    async with app_connection(store) as conn:
        payment_id = await new_payment(conn, merchant_id, await new_order(conn, merchant_id))
    outcomes = await settle_concurrently(store, [(payment_id, None if i % 2 else "declined") for i in range(10)])
    assert sum(len(o) for o in outcomes) == 1
    async with app_connection(store) as conn:
        types = await stream_types(conn, payment.stream_id(payment_id))
        assert types[0] == "payment.created.v1" and len(types) == 2
        assert types[1] in ("payment.succeeded.v1", "payment.failed.v1")


async def test_of_two_payments_racing_to_pay_one_order_only_one_succeeds(store: str, merchant_id: str) -> None:
    async with app_connection(store) as conn:
        order_id = await new_order(conn, merchant_id)
        first, second = [await new_payment(conn, merchant_id, order_id) for _ in range(2)]
    await settle_concurrently(store, [(first, None), (second, None)] * 3)
    async with app_connection(store) as conn:
        decided = {pid: (await stream_types(conn, payment.stream_id(pid)))[1:] for pid in (first, second)}
        assert sorted(t for types in decided.values() for t in types) == ["payment.failed.v1", "payment.succeeded.v1"]
        assert await stream_types(conn, order.stream_id(order_id)) == ["order.created.v1", "order.paid.v1"]
        cur = await conn.execute("SELECT id, status, error_description FROM payments WHERE order_id = %s", (order_id,))
        rows = {r[0]: r[1:] for r in await cur.fetchall()}
        winner = next(pid for pid, types in decided.items() if types == ["payment.succeeded.v1"])
        loser = first if winner == second else second
        assert rows[winner] == ("success", None)
        assert rows[loser] == ("failed", "Order already paid by another payment")
        cur = await conn.execute("SELECT status FROM orders WHERE id = %s", (order_id,))
        assert await cur.fetchone() == ("paid",)


async def test_a_paid_order_refuses_a_new_payment(store: str, merchant_id: str) -> None:
    async with app_connection(store) as conn:
        order_id = await new_order(conn, merchant_id)
        paid_by = await new_payment(conn, merchant_id, order_id)
        await settle_payment(session_on(conn), paid_by, payment.DecidePayment(AT))
        with pytest.raises(OrderAlreadyPaid):
            await new_payment(conn, merchant_id, order_id)


async def test_a_failed_payment_leaves_its_order_open_for_another(store: str, merchant_id: str) -> None:
    async with app_connection(store) as conn:
        order_id = await new_order(conn, merchant_id)
        failed = await new_payment(conn, merchant_id, order_id)
        await settle_payment(session_on(conn), failed, payment.DecidePayment(AT, "declined"))
        retry = await new_payment(conn, merchant_id, order_id)
        await settle_payment(session_on(conn), retry, payment.DecidePayment(AT))
        assert await stream_types(conn, order.stream_id(order_id)) == ["order.created.v1", "order.paid.v1"]


# ---------------------------------------------------------------- many at once (settle_payments)


async def test_a_batch_decides_each_payment_once_and_pays_an_order_once(store: str, merchant_id: str) -> None:
    async with app_connection(store) as conn:
        shared = await new_order(conn, merchant_id)
        twice = [await new_payment(conn, merchant_id, shared) for _ in range(2)]
        alone = [await new_payment(conn, merchant_id, await new_order(conn, merchant_id)) for _ in range(3)]
        declined = alone[2]
        decided_before = await new_payment(conn, merchant_id, await new_order(conn, merchant_id))
        await settle_payment(session_on(conn), decided_before, payment.DecidePayment(AT))
        verdicts = [(pid, payment.DecidePayment(AT, "declined" if pid == declined else None)) for pid in alone]
        verdicts += [(twice[0], payment.DecidePayment(AT)), (twice[1], payment.DecidePayment(AT))]
        verdicts += [(decided_before, payment.DecidePayment(AT)), (alone[0], payment.DecidePayment(AT))]  # again

        outcomes = await settle_payments(session_on(conn), verdicts)

        assert outcomes is not None and outcomes[decided_before] == []
        for pid in [*alone, *twice]:
            assert isinstance(outcomes[pid], list) and len(outcomes[pid]) == 1, pid
        assert await stream_types(conn, payment.stream_id(twice[0])) == ["payment.created.v1", "payment.succeeded.v1"]
        second = await ledger.read_stream(conn, payment.stream_id(twice[1]))
        assert second[-1].type == "payment.failed.v1"
        assert second[-1].data["error_description"] == "Order already paid by another payment"
        assert await stream_types(conn, order.stream_id(shared)) == ["order.created.v1", "order.paid.v1"]
        assert (await stream_types(conn, payment.stream_id(declined)))[-1] == "payment.failed.v1"
        # The read rows rode along: the payments table says what the streams say.
        cur = await conn.execute("SELECT id, status FROM payments WHERE id = ANY(%s)", ([*alone, *twice],))
        statuses = dict(await cur.fetchall())
        assert statuses == {alone[0]: "success", alone[1]: "success", declined: "failed", twice[0]: "success",
                            twice[1]: "failed"}  # fmt: skip
        cur = await conn.execute("SELECT status FROM orders WHERE id = %s", (shared,))
        assert await cur.fetchone() == ("paid",)


async def test_a_batch_whose_stream_moved_on_writes_nothing(store: str, merchant_id: str) -> None:
    """Another worker decided one of them between the batch's read and its append: nothing of the batch is
    written, and the caller decides them one by one."""
    async with app_connection(store) as conn, app_connection(store) as other:
        pids = [await new_payment(conn, merchant_id, await new_order(conn, merchant_id)) for _ in range(3)]
        session = session_on(conn)
        read = session.load_many

        async def read_then_race(decider: Any, stream_ids: Any) -> Any:
            found = await read(decider, stream_ids)
            if decider is payment:  # the other worker decides the second payment right after this read
                await settle_payment(session_on(other), pids[1], payment.DecidePayment(AT, "declined"))
            return found

        session.load_many = read_then_race  # type: ignore[method-assign]
        assert await settle_payments(session, [(pid, payment.DecidePayment(AT)) for pid in pids]) is None
        for pid in (pids[0], pids[2]):
            assert await stream_types(conn, payment.stream_id(pid)) == ["payment.created.v1"]
        assert (await stream_types(conn, payment.stream_id(pids[1])))[-1] == "payment.failed.v1"


# ---------------------------------------------------------------- paying an order known from a snapshot


async def test_a_payment_on_an_order_paid_since_its_snapshot_reads_it_again_and_is_refused(
    store: str, merchant_id: str
) -> None:
    """The API keeps the orders it made (``Snapshots``) and pays them with no read; an order another process
    paid meanwhile fails the payment's guard, is read again, and the payment is refused as it would have been."""
    async with app_connection(store) as conn, app_connection(store) as other:
        snapshots = Snapshots([order])
        session = session_on(conn)
        session.snapshots = snapshots
        order_id = f"order_{uuid.uuid4().hex[:16]}"
        await handle(
            session, order, order.stream_id(order_id), order.CreateOrder(order_id, merchant_id, 500, "INR", AT)
        )
        assert snapshots.get(order.stream_id(order_id)) is not None  # kept at its creation

        def command_for(pid: str) -> Any:
            async def build(o: order.Order) -> payment.CreatePayment:
                snapshot = payment.OrderSnapshot(o.order_id, o.amount, o.currency, o.paid)
                return payment.CreatePayment(pid, merchant_id, snapshot, "upi", AT, 2030, 6, vpa="a@b")

            return build

        first = await pay_order(session, order_id, merchant_id, command_for(f"pay_{uuid.uuid4().hex[:16]}"))
        # Paid elsewhere: the snapshot still says unpaid, at version 1.
        await settle_payment(session_on(other), first.payment_id, payment.DecidePayment(AT))
        assert snapshots.get(order.stream_id(order_id))[1] == 1  # type: ignore[index]
        late = f"pay_{uuid.uuid4().hex[:16]}"
        with pytest.raises(OrderAlreadyPaid):
            await pay_order(session, order_id, merchant_id, command_for(late))
        assert await ledger.read_stream(conn, payment.stream_id(late)) == []
        assert snapshots.get(order.stream_id(order_id))[1] == 2  # type: ignore[index]  # read again and kept


async def test_an_append_guarded_by_a_stream_that_moved_on_writes_nothing(app_conn: Any) -> None:
    guard_stream, guarded = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    event = ledger.NewEvent("test.happened.v1", {"n": 1})
    await ledger.append(app_conn, guard_stream, [event], expected_version=0)
    with pytest.raises(ledger.ConcurrencyConflict):
        await ledger.append(app_conn, guarded, [ledger.NewEvent("test.happened.v1", {})], expected_version=0,
                            guard=(guard_stream, 2))  # fmt: skip
    assert await ledger.read_stream(app_conn, guarded) == []
    done = await ledger.append(
        app_conn, guarded, [ledger.NewEvent("test.happened.v1", {})], expected_version=0, guard=(guard_stream, 1)
    )
    assert len(done) == 1
    more = ledger.NewEvent("test.happened.v1", {})
    with pytest.raises(ledger.ConcurrencyConflict):  # an existing stream's append is guarded the same way
        await ledger.append(app_conn, guarded, [more], expected_version=1, guard=(guard_stream, 5))
    assert len(await ledger.append(app_conn, guarded, [more], expected_version=1, guard=(guard_stream, 1))) == 1
