"""Fan-out and the delivery log against a real PostgreSQL: subscribed events of merchants with a URL become
deliveries once, with bodies as of their event; due attempts are found from the log."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from storekit import app_connection, session_on

import commands
import ledger
from commands import handle, merchant, order, payment, webhook
from commands.usecases import create_payment, load_order, register_merchant, settle_payment
from projections import webhook_logs
from workers import fanout, leases

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
    cur = await conn.execute("SELECT event, payload, body FROM webhook_logs WHERE merchant_id = %s", (mid,))
    read = {event: (payload, body) for event, payload, body in await cur.fetchall()}
    assert {e: (json.loads(b), b) for e, (_, b) in read.items()} == read, "payload is the body, parsed"
    assert {e: b for e, (_, b) in read.items()} == {e: r["body"] for e, r in rows.items()}
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


async def one_delivery(conn: Any) -> dict[str, Any]:
    mid = await new_merchant(conn, "https://shop.example.com/hook", ("payment.success",))
    await fanout.schedule(conn, await payment_events(conn, await settled_payment(conn, mid)))
    [row] = await logs_of(conn, mid)
    return row


async def version_of(conn: Any, delivery_id: str) -> int:
    return (await session_on(conn).load(webhook, webhook.stream_id(delivery_id)))[1]


async def record_failure(conn: Any, delivery_id: str, version: int) -> None:
    state, _ = await session_on(conn).load(webhook, webhook.stream_id(delivery_id))
    failed = webhook.RecordAttempt(1, AT, 500, "no", None, 3)
    await session_on(conn).save(webhook.stream_id(delivery_id), webhook.decide(state, failed), version)


async def test_an_attempt_in_flight_is_not_due_until_the_window_passes(conn: Any) -> None:
    row = await one_delivery(conn)
    started_at = row["created_at"] + timedelta(seconds=20)
    key = (row["id"], await version_of(conn, row["id"]))
    assert set(await leases.claim(conn, [key], started_at, 15)) == {row["id"]}
    ids = lambda due: [d[0] for d in due if d[0] == row["id"]]  # noqa: E731
    assert ids(await webhook_logs.due(conn, started_at + timedelta(seconds=14), grace_s=15)) == []
    assert ids(await webhook_logs.due(conn, started_at + timedelta(seconds=15), grace_s=15)) == [row["id"]]
    assert await leases.claim(conn, [key], started_at + timedelta(seconds=14), 15) == {}, "in flight: not again"
    assert set(await leases.claim(conn, [key], started_at + timedelta(seconds=15), 15)) == {row["id"]}


async def test_a_claim_answers_the_url_and_secret_of_the_moment_once(conn: Any) -> None:
    row = await one_delivery(conn)
    key = (row["id"], await version_of(conn, row["id"]))
    now = datetime.now(UTC)
    assert await leases.claim(conn, [key], now, 15) == {row["id"]: ("https://shop.example.com/hook", "whsec_x")}
    assert await leases.claim(conn, [key], now, 15) == {}
    targets = {t["id"]: t for t in await webhook_logs.targets(conn, [row["id"]])}
    assert targets[row["id"]]["claimed_at"] == now


async def test_a_claim_of_a_version_the_delivery_moved_past_claims_nothing(conn: Any) -> None:
    row = await one_delivery(conn)
    version = await version_of(conn, row["id"])
    now = datetime.now(UTC)
    assert set(await leases.claim(conn, [(row["id"], version)], now, 15)) == {row["id"]}
    await record_failure(conn, row["id"], version)  # the outcome, at the version it was claimed at
    assert await leases.claim(conn, [(row["id"], version)], now, 15) == {}, "a stale or duplicated message"
    assert set(await leases.claim(conn, [(row["id"], version + 1)], now, 15)) == {row["id"]}, "the retry's"
    stranger = str(uuid.uuid4())
    assert await leases.claim(conn, [(stranger, 1)], now, 15) == {}, "no such delivery"


async def test_of_claims_racing_for_one_attempt_one_wins(store: str, conn: Any) -> None:
    row = await one_delivery(conn)
    key = (row["id"], await version_of(conn, row["id"]))
    now = datetime.now(UTC)
    async with app_connection(store) as a, app_connection(store) as b:
        got = await asyncio.gather(*(leases.claim(c, [key], now, 15) for c in (a, b, conn)))
    assert sorted(len(g) for g in got) == [0, 0, 1]


async def test_a_sweep_forgets_only_stale_claims(conn: Any) -> None:
    old, new = await one_delivery(conn), await one_delivery(conn)
    now = datetime.now(UTC)
    await leases.claim(conn, [(old["id"], await version_of(conn, old["id"]))], now - timedelta(seconds=15), 15)
    await leases.claim(conn, [(new["id"], await version_of(conn, new["id"]))], now - timedelta(seconds=14), 15)
    await leases.sweep(conn, now, 15)
    held = {t["id"]: t["claimed_at"] for t in await webhook_logs.targets(conn, [old["id"], new["id"]])}
    assert held[old["id"]] is None and held[new["id"]] is not None


async def attempt_outcome(conn: Any, code: int | None, failures_before: int = 0) -> tuple[dict[str, Any], list[str]]:
    """The log row and the stream's event types after ``failures_before`` failed attempts and one answering ``code``."""
    row = await one_delivery(conn)
    stream = webhook.stream_id(row["id"])
    for n in range(1, failures_before + 2):
        state, version = await session_on(conn).load(webhook, stream)
        answer = (500, "no") if n <= failures_before else (code, "got it" if code else "")
        command = webhook.RecordAttempt(n, f"2030-06-15T10:0{n}:00.000000Z", *answer, None if answer[0] else "x", 7)
        await session_on(conn).save(stream, webhook.decide(state, command), version)
    types = [e.type for e in await ledger.read_stream(conn, stream)]
    return await webhook_logs.get(conn, row["id"], row["merchant_id"]) or {}, types


async def test_a_delivering_attempt_is_one_event_and_its_log_row_keeps_what_it_got(conn: Any) -> None:
    row, types = await attempt_outcome(conn, 201)
    assert types == ["webhook.scheduled.v1", "webhook.delivered.v2"]
    assert (row["status"], row["attempts"], row["response_code"], row["response_body"]) == ("success", 1, 201, "got it")
    assert (row["last_error"], row["next_retry_at"]) == (None, None)
    assert row["last_attempt_at"] == row["updated_at"] == datetime(2030, 6, 15, 10, 1, tzinfo=UTC)


async def test_the_last_failing_attempt_is_one_event_and_its_log_row_keeps_what_it_got(conn: Any) -> None:
    row, types = await attempt_outcome(conn, None, failures_before=webhook.MAX_ATTEMPTS - 1)
    assert types == ["webhook.scheduled.v1", *["webhook.attempted.v1"] * 4, "webhook.failed.v2"]
    assert (row["status"], row["attempts"], row["response_code"], row["last_error"]) == ("failed", 5, None, "x")
    assert row["next_retry_at"] is None
    assert row["last_attempt_at"] == datetime(2030, 6, 15, 10, 5, tzinfo=UTC)


@pytest.mark.parametrize("code", [200, 503])
async def test_a_log_written_before_each_attempt_was_one_event_gives_the_same_log_row(conn: Any, code: int) -> None:
    """Old logs hold every attempt as ``webhook.attempted.v1``, the delivering or last one followed by
    ``webhook.delivered.v1`` or ``webhook.failed.v1``: the row they make is the one the new events make."""
    failures_before = 0 if code == 200 else webhook.MAX_ATTEMPTS - 1
    new, _ = await attempt_outcome(conn, code, failures_before)
    old = await one_delivery(conn)
    stream, n = webhook.stream_id(old["id"]), failures_before + 1
    at = f"2030-06-15T10:0{n}:00.000000Z"
    attempts = [
        webhook.WebhookAttempted(old["id"], i, f"2030-06-15T10:0{i}:00.000000Z", 500, "no", None, 7, "x")
        for i in range(1, n)
    ]
    last = webhook.WebhookAttempted(old["id"], n, at, code, "got it", None, 7, None)
    outcome = webhook.WebhookDeliveredV1(old["id"], n, at) if code == 200 else webhook.WebhookFailedV1(old["id"], n, at)
    await session_on(conn).save(stream, [*attempts, last, outcome], await version_of(conn, old["id"]))
    row = await webhook_logs.get(conn, old["id"], old["merchant_id"]) or {}
    same = ("status", "attempts", "last_attempt_at", "next_retry_at", "response_code", "response_body", "last_error")
    assert {k: row[k] for k in same} == {k: new[k] for k in same}


async def test_a_batch_that_must_be_one_statement_and_cannot_be_writes_nothing(conn: Any) -> None:
    """The dispatcher schedules deliveries outside any transaction, relying on their append being one statement:
    a batch whose inline projections could not ride in the append is refused whole, not written in parts."""

    class Reading:
        """Inline projections that would have to read the tables first, so they cannot ride."""

        async def riding_batch(self, conn: Any, batch: Any) -> None:
            return None

    mid = await new_merchant(conn, "https://shop.example.com/hook")
    ids = [str(uuid.uuid4()) for _ in range(2)]
    batch = [
        commands.Saving(
            webhook.stream_id(d),
            webhook.decide(webhook.initial_state, webhook.ScheduleWebhook(d, mid, "payment.created", "{}", AT)),
            0,
            {"actor": "test"},
        )
        for d in ids
    ]
    with pytest.raises(commands.NotOneStatement):
        await commands.Session(conn, Reading()).save_batch(batch, one_statement=True)  # type: ignore[arg-type]
    assert [await ledger.read_stream(conn, webhook.stream_id(d)) for d in ids] == [[], []]
    saved = await session_on(conn).save_batch(batch, one_statement=True)  # the real ones ride
    assert set(saved) == {webhook.stream_id(d) for d in ids}
    assert len(await logs_of(conn, mid)) == 2
