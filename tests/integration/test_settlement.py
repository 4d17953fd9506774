"""Settling payments under concurrency: each payment is decided once, and an order is paid by one payment only."""

import asyncio
import uuid
from typing import Any

import pytest
from storekit import app_connection, session_on

import ledger
from commands import handle, merchant, order, payment
from commands.errors import OrderAlreadyPaid
from commands.usecases import create_payment, load_order, register_merchant, settle_payment

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
