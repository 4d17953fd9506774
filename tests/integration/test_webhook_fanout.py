"""Fan-out and the delivery log against a real PostgreSQL: subscribed events of merchants with a URL become
deliveries once, with bodies as of their event; due attempts are found from the log."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from storekit import app_connection, session_on

import ledger
from commands import handle, merchant, order, payment, webhook
from commands.usecases import create_payment, load_order, register_merchant, settle_payment
from projections import webhook_logs
from workers import fanout

AT = "2030-06-15T10:00:00.000000Z"


async def new_merchant(conn: Any, url: str | None, events: tuple[str, ...] | None = None) -> str:
    mid = str(uuid.uuid4())
    await register_merchant(
        session_on(conn), merchant.RegisterMerchant(mid, "Shop", f"{mid}@shop.test", f"key_{mid}", "s", "whsec_x", AT)
    )
    if url is not None:
        await handle(
            session_on(conn), merchant, merchant.stream_id(mid), merchant.ConfigureWebhook(mid, url, events, AT)
        )
    return mid


async def settled_payment(conn: Any, merchant_id: str, failure: str | None = None) -> str:
    order_id = f"order_{uuid.uuid4().hex[:16]}"
    notes = {"note": "नमस्ते ₹"}
    await handle(
        session_on(conn),
        order,
        order.stream_id(order_id),
        order.CreateOrder(order_id, merchant_id, 50000, "INR", AT, None, notes),
    )
    o = await load_order(session_on(conn), order_id, merchant_id)
    payment_id = f"pay_{uuid.uuid4().hex[:16]}"
    snapshot = payment.OrderSnapshot(o.order_id, o.amount, o.currency, o.paid)
    await create_payment(
        session_on(conn), payment.CreatePayment(payment_id, merchant_id, snapshot, "upi", AT, 2030, 6, vpa="a@b")
    )
    await settle_payment(session_on(conn), payment_id, payment.DecidePayment("2030-06-15T10:00:02.000000Z", failure))
    return payment_id


async def payment_events(conn: Any, payment_id: str) -> list[ledger.Recorded]:
    return await ledger.read_stream(conn, payment.stream_id(payment_id))


async def logs_of(conn: Any, merchant_id: str) -> list[dict[str, Any]]:
    rows, _ = await webhook_logs.page(conn, merchant_id, limit=100, offset=0)
    return rows


@pytest.fixture
async def conn(store: str) -> Any:
    async with app_connection(store) as c:
        yield c


async def test_a_successful_payment_owes_created_pending_and_success_once(conn: Any) -> None:
    mid = await new_merchant(conn, "https://shop.example.com/hook")
    pid = await settled_payment(conn, mid)
    events = await payment_events(conn, pid)
    assert len(await fanout.schedule(conn, events)) == 3
    assert await fanout.schedule(conn, events) == [], "a redispatch schedules nothing more"
    rows = {r["event"]: r for r in await logs_of(conn, mid)}
    assert set(rows) == {"payment.created", "payment.pending", "payment.success"}
    assert all((r["status"], r["attempts"]) == ("pending", 0) for r in rows.values())
    pending = json.loads(rows["payment.pending"]["body"])
    success = json.loads(rows["payment.success"]["body"])
    assert (pending["data"]["payment"]["status"], success["data"]["payment"]["status"]) == ("pending", "success")
    assert (pending["data"]["order"]["status"], success["data"]["order"]["status"]) == ("created", "paid")
    assert success["data"]["order"]["notes"] == {"note": "नमस्ते ₹"}
    assert "नमस्ते".encode() in rows["payment.success"]["body"].encode()
    created = events[0]
    assert rows["payment.created"]["id"] == fanout.delivery_id(created.event_id, mid, "payment.created")


async def test_a_failed_payment_owes_payment_failed_with_its_error(conn: Any) -> None:
    mid = await new_merchant(conn, "https://shop.example.com/hook", ("payment.failed",))
    pid = await settled_payment(conn, mid, failure="Declined by the bank")
    await fanout.schedule(conn, await payment_events(conn, pid))
    [row] = await logs_of(conn, mid)
    body = json.loads(row["body"])
    assert body["event"] == "payment.failed"
    assert body["data"]["payment"]["status"] == "failed"
    assert (body["data"]["payment"]["error_code"], body["data"]["payment"]["error_description"]) == (
        "PAYMENT_FAILED",
        "Declined by the bank",
    )


async def test_merchants_without_a_url_or_subscription_are_owed_nothing(conn: Any) -> None:
    no_url = await new_merchant(conn, None)
    turned_off = await new_merchant(conn, "https://shop.example.com/hook")
    await handle(
        session_on(conn),
        merchant,
        merchant.stream_id(turned_off),
        merchant.ConfigureWebhook(turned_off, None, None, AT),
    )
    refunds_only = await new_merchant(conn, "https://shop.example.com/hook", ("refund.created",))
    for mid in (no_url, turned_off, refunds_only):
        assert await fanout.schedule(conn, await payment_events(conn, await settled_payment(conn, mid))) == []
        assert await logs_of(conn, mid) == []


async def test_a_first_attempt_is_due_for_the_scheduler_only_after_the_grace(conn: Any) -> None:
    mid = await new_merchant(conn, "https://shop.example.com/hook", ("payment.success",))
    await fanout.schedule(conn, await payment_events(conn, await settled_payment(conn, mid)))
    [row] = await logs_of(conn, mid)
    created = row["created_at"]
    mine = lambda due: [d for d in due if d[0] == row["id"]]  # noqa: E731
    assert mine(await webhook_logs.due(conn, created + timedelta(seconds=5), grace_s=15)) == []
    assert mine(await webhook_logs.due(conn, created + timedelta(seconds=16), grace_s=15)) == [(row["id"], 1, created)]

    # After a failed attempt the retry is due at its time, with no grace: nobody else will enqueue it.
    state, version = await session_on(conn).load(webhook, webhook.stream_id(row["id"]))
    attempt = webhook.RecordAttempt(1, AT, 500, "no", None, 3, (5, 10, 15, 20))
    async with conn.transaction():
        await session_on(conn).save(webhook.stream_id(row["id"]), webhook.decide(state, attempt), version)
    [after] = await logs_of(conn, mid)
    assert (after["attempts"], after["status"], after["response_code"]) == (1, "pending", 500)
    retry_at = after["next_retry_at"]
    assert retry_at == datetime(2030, 6, 15, 10, 0, 5, tzinfo=UTC)
    assert mine(await webhook_logs.due(conn, retry_at - timedelta(seconds=1), grace_s=15)) == []
    assert mine(await webhook_logs.due(conn, retry_at, grace_s=15)) == [(row["id"], 2, retry_at)]
    assert await webhook_logs.next_due(conn, retry_at - timedelta(seconds=1)) is not None


async def test_the_redrive_clock_starts_at_scheduling_not_at_the_source_event(conn: Any) -> None:
    """Issue 11, item 6: a dispatcher that was down a minute schedules late; its own message is not redriven
    at once because the source event is old."""
    import dataclasses

    mid = await new_merchant(conn, "https://shop.example.com/hook", ("payment.success",))
    events = await payment_events(conn, await settled_payment(conn, mid))
    old = [dataclasses.replace(e, recorded_at=e.recorded_at - timedelta(seconds=60)) for e in events]
    before = datetime.now(UTC)
    await fanout.schedule(conn, old)
    [row] = await logs_of(conn, mid)
    assert row["created_at"] >= before and row["next_retry_at"] == row["created_at"]
    mine = [d for d in await webhook_logs.due(conn, datetime.now(UTC), grace_s=15) if d[0] == row["id"]]
    assert mine == []
    later = [d for d in await webhook_logs.due(conn, row["created_at"] + timedelta(seconds=16), grace_s=15)]
    assert [d[0] for d in later if d[0] == row["id"]] == [row["id"]]


async def test_an_attempt_in_flight_is_not_due_until_the_window_passes(conn: Any) -> None:
    mid = await new_merchant(conn, "https://shop.example.com/hook", ("payment.success",))
    await fanout.schedule(conn, await payment_events(conn, await settled_payment(conn, mid)))
    [row] = await logs_of(conn, mid)
    started_at = row["created_at"] + timedelta(seconds=20)
    state, version = await session_on(conn).load(webhook, webhook.stream_id(row["id"]))
    start = webhook.StartAttempt(1, started_at.isoformat().replace("+00:00", "Z"), 15.0)
    async with conn.transaction():
        await session_on(conn).save(webhook.stream_id(row["id"]), webhook.decide(state, start), version)
    ids = lambda due: [d[0] for d in due if d[0] == row["id"]]  # noqa: E731
    assert ids(await webhook_logs.due(conn, started_at + timedelta(seconds=14), grace_s=15)) == []
    assert ids(await webhook_logs.due(conn, started_at + timedelta(seconds=15), grace_s=15)) == [row["id"]]
    state, version = await session_on(conn).load(webhook, webhook.stream_id(row["id"]))
    assert webhook.decide(state, webhook.StartAttempt(1, start.occurred_at, 15.0)) == []
