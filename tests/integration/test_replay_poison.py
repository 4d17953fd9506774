"""A replay meets an event its projections cannot handle (one live would quarantine): it sets the event aside,
names it with each projection and error, and still builds every other row. A part whose process fails fails
the replay, with that process's error."""

import uuid
from typing import Any

import pytest
from storekit import app_connection, append

import ledger
from projections import rebuild


async def test_an_event_no_projection_can_handle_is_set_aside_and_named(owner: Any, store: str) -> None:
    async with app_connection(store) as conn:
        order_id = f"order_{uuid.uuid4().hex[:14]}"
        good = ledger.NewEvent(
            "order.created.v1",
            {
                "order_id": order_id,
                "merchant_id": str(uuid.uuid4()),
                "amount": 500,
                "currency": "INR",
                "receipt": None,
                "notes": {},
                "created_at": "2030-06-15T10:00:00.000000Z",
            },
        )
        await append(conn, f"order-{order_id}", [good], 0)
        # Appended straight to the log, never projected: a payment without most of its fields.
        [poison] = await append(conn, "payment-pay_poison", [ledger.NewEvent("payment.created.v1", {})], 0)
    for parts in (1, 2):
        replayed = await rebuild.replay(owner, url=store, parts=parts)
        assert replayed.events == 2
        assert [(p, m) for p, m, _ in replayed.skipped] == [
            (poison.position, "payment_daily_stats"),
            (poison.position, "payment_stats"),
            (poison.position, "payments"),
        ]
        assert all(e.startswith("KeyError: ") for _, _, e in replayed.skipped)
        cur = await owner.execute(f"SELECT id, amount FROM {rebuild.SCHEMA}.orders")
        assert await cur.fetchall() == [(order_id, 500)]


async def test_a_part_that_fails_fails_the_replay_with_its_error(owner: Any) -> None:
    with pytest.raises(RuntimeError, match=r"replay part 1 failed: (?s:.*)(refused|connect)"):
        await rebuild.replay(owner, url="postgresql://nobody@127.0.0.1:1/none", parts=2)
