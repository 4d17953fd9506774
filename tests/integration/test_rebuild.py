"""Rebuild: replaying the whole log into fresh tables gives the live read models back, and finds a tampered row."""

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from storekit import session_on

import projections
from commands import handle, merchant, order, payment
from commands.usecases import create_payment, register_merchant, settle_payment
from projections import checkpoints, rebuild, runner

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2030, 6, 15, 10, 0, tzinfo=UTC)
AT = "2030-06-15T10:00:00.000000Z"


async def shop(app_conn: Any) -> list[str]:
    """A merchant with orders and payments in every state; returns the order ids."""
    session = session_on(app_conn)
    merchant_id = str(uuid.uuid4())
    tag = uuid.uuid4().hex[:8]
    await register_merchant(
        session,
        merchant.RegisterMerchant(merchant_id, "Shop", f"{tag}@shop.test", f"key_{tag}", "s", "whsec_x", AT),
    )
    stream = merchant.stream_id(merchant_id)
    for command in (
        # Every kind of merchant change, the key rotation twice (its "previous key" columns copy the current).
        merchant.ConfigureWebhook(merchant_id, "https://shop.test/hooks", ("payment.success",), AT),
        merchant.RotateWebhookSecret(merchant_id, "sealed-whsec-2", AT),
        merchant.RotateApiKey(merchant_id, f"key_{tag}_2", "hash-2", "sealed-2", AT, AT),
        merchant.RotateApiKey(merchant_id, f"key_{tag}_3", "hash-3", "sealed-3", AT, AT),
        merchant.ConfigureCheckout(merchant_id, ("https://shop.test",), AT),
        merchant.SetPassword(merchant_id, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", AT),
    ):
        await handle(session, merchant, stream, command)
    order_ids = []
    for i, outcome in enumerate([None, "declined", "pending", None]):
        order_id = f"order_{tag}{i:08d}"
        await handle(
            session, order, order.stream_id(order_id), order.CreateOrder(order_id, merchant_id, 1000 + i, "INR", AT)
        )
        snapshot = payment.OrderSnapshot(order_id, 1000 + i, "INR", paid=False)
        payment_id = f"pay_{tag}{i:08d}"
        await create_payment(
            session,
            payment.CreatePayment(payment_id, merchant_id, snapshot, "upi", AT, 2030, 6, vpa="a@b"),
        )
        if outcome != "pending":
            await settle_payment(session, payment_id, payment.DecidePayment(AT, outcome))
        order_ids.append(order_id)
    return order_ids


async def catch_up(app_conn: Any, timeout: float = 30) -> None:
    """Run every async model until its checkpoint is at the last event (the reader may have to wait for old
    transactions elsewhere in the cluster, so an empty batch alone does not mean caught up)."""
    cur = await app_conn.execute("SELECT tx_id::text::bigint, position FROM events ORDER BY tx_id DESC, position DESC")
    tail = await cur.fetchone()
    deadline = time.monotonic() + timeout
    for model in projections.ASYNC:
        while (
            await runner.catch_up(app_conn, model)
            or dataclasses.astuple(await checkpoints.load(app_conn, model.NAME)) != tail
        ):
            assert time.monotonic() < deadline, f"{model.NAME} did not catch up"
            await asyncio.sleep(0.05)


def run_cli(store: str, redis_url: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "paygate", "rebuild", "--json"],
        env={**os.environ, "DATABASE_URL": store, "REDIS_URL": redis_url},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout.decode().strip().splitlines()[-1])


@pytest.fixture(scope="module")
async def orders_made(store: str) -> list[str]:
    from storekit import app_connection

    async with app_connection(store) as conn:
        made = await shop(conn)
        await catch_up(conn)
    return made


async def test_replaying_the_log_rebuilds_every_read_table_equal_to_the_live_one(
    owner: Any, orders_made: list[str]
) -> None:
    replayed = (await rebuild.replay(owner)).events
    reports = await rebuild.compare(owner)
    assert replayed > 0
    assert {r.table for r in reports} == set(projections.TABLES)
    assert [r for r in reports if not r.equal] == []
    by_table = {r.table: r for r in reports}
    assert by_table["orders"].live_rows >= len(orders_made) and by_table["payments"].rebuilt_rows >= len(orders_made)
    assert by_table["payment_daily_stats"].live_rows >= 1  # the dashboard's chart is rebuilt too, and equal


async def test_a_replay_in_parts_equals_live_and_the_replay_in_one(
    owner: Any, store: str, orders_made: list[str]
) -> None:
    """Two processes, the log cut by stream, one snapshot: the same tables as one process folding it all."""
    one = await rebuild.replay(owner)
    single = {t: await _rows(owner, t) for t in projections.TABLES}
    two = await rebuild.replay(owner, url=store, parts=2)
    assert (two.events, two.skipped) == (one.events, [])
    assert {t: await _rows(owner, t) for t in projections.TABLES} == single
    assert [r for r in await rebuild.compare(owner) if not r.equal] == []
    cur = await owner.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = %s", (rebuild.SCHEMA,))
    assert await cur.fetchone() == (len(projections.TABLES),)  # each table's primary key, built at the end


async def _rows(owner: Any, table: str) -> list[str]:
    cur = await owner.execute(f"SELECT t::text FROM {rebuild.SCHEMA}.{table} t ORDER BY 1")
    return [r[0] for r in await cur.fetchall()]


async def test_a_tampered_read_row_is_reported_different(owner: Any, orders_made: list[str]) -> None:
    await rebuild.replay(owner)
    await owner.execute("UPDATE orders SET amount = amount + 1 WHERE id = %s", (orders_made[0],))
    try:
        reports = {r.table: r for r in await rebuild.compare(owner)}
        assert (reports["orders"].equal, reports["orders"].only_live, reports["orders"].only_rebuilt) == (False, 1, 1)
        assert all(r.equal for name, r in reports.items() if name != "orders")
    finally:
        await owner.execute("UPDATE orders SET amount = amount - 1 WHERE id = %s", (orders_made[0],))


async def test_a_deleted_read_row_is_reported_different(owner: Any, orders_made: list[str]) -> None:
    await rebuild.replay(owner)
    async with owner.transaction(force_rollback=True):
        await owner.execute("DELETE FROM payments WHERE order_id = %s", (orders_made[1],))
        reports = {r.table: r for r in await rebuild.compare(owner)}
        assert (reports["payments"].only_live, reports["payments"].only_rebuilt) == (0, 1)


async def test_the_rebuild_command_exits_non_zero_on_a_difference(
    store: str, redis_url: str, owner: Any, orders_made: list[str]
) -> None:
    code, report = run_cli(store, redis_url)
    assert (code, report["equal"]) == (0, True)
    await owner.execute("UPDATE payments SET status = 'success' WHERE order_id = %s", (orders_made[2],))
    try:
        code, report = run_cli(store, redis_url)
        assert (code, report["equal"]) == (1, False)
        assert [t["table"] for t in report["tables"] if not t["equal"]] == ["payments"]
    finally:
        await owner.execute("UPDATE payments SET status = 'pending' WHERE order_id = %s", (orders_made[2],))


async def test_an_old_open_transaction_elsewhere_does_not_cut_the_replay_short(
    store: str, owner: Any, orders_made: list[str]
) -> None:
    from storekit import app_connection

    async with app_connection(store) as old, app_connection(store) as writer:
        await old.execute("BEGIN")
        await old.execute("SELECT pg_current_xact_id()")  # older than every event below
        try:
            order_id = f"order_{uuid.uuid4().hex[:16]}"
            merchant_id = (await (await writer.execute("SELECT id::text FROM merchants LIMIT 1")).fetchone())[0]
            command = order.CreateOrder(order_id, merchant_id, 777, "INR", AT)
            await handle(session_on(writer), order, order.stream_id(order_id), command)
            await rebuild.replay(owner)
            reports = {r.table: r for r in await rebuild.compare(owner)}
            cur = await owner.execute("SELECT count(*) FROM rebuild.orders WHERE id = %s", (order_id,))
            assert await cur.fetchone() == (1,)
            assert reports["orders"].equal and reports["payments"].equal and reports["merchants"].equal
        finally:
            await old.execute("ROLLBACK")
