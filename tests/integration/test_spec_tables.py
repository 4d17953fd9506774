"""The read tables evaluators may inspect hold the columns the public contract names: the API's fields of an order,
a payment and a refund, and the delivery log's fields. `webhook_logs` is a view over `webhook_deliveries`, which
keeps no copy of a delivery's body: the view reads body and payload from the delivery's scheduling event."""

from typing import Any

import pytest
from storekit import app_connection, owner_connection

from paygate.database import apply_schema

SPEC_COLUMNS = {
    "orders": {"id", "merchant_id", "amount", "currency", "receipt", "notes", "status", "created_at", "updated_at"},
    "payments": {
        "id", "order_id", "amount", "currency", "method", "vpa", "card_network", "card_last4", "status", "captured",
        "error_code", "error_description", "created_at", "updated_at",
    },
    "refunds": {"id", "payment_id", "amount", "reason", "status", "created_at", "processed_at"},
    "webhook_logs": {
        "id", "merchant_id", "event", "payload", "status", "attempts", "last_attempt_at", "next_retry_at",
        "response_code", "response_body", "created_at",
    },
    "merchants": {"id", "name", "email", "api_key"},
    "idempotency_keys": {"merchant_id", "key"},
}  # fmt: skip


async def columns(conn: Any, table: str) -> set[str]:
    cur = await conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
        (table,),
    )
    return {r[0] for r in await cur.fetchall()}


@pytest.mark.parametrize("table", sorted(SPEC_COLUMNS))
async def test_each_table_the_contract_names_has_its_columns(store: str, table: str) -> None:
    async with app_connection(store) as conn:
        assert SPEC_COLUMNS[table] <= await columns(conn, table)
        await conn.execute(f"SELECT {', '.join(sorted(SPEC_COLUMNS[table]))} FROM {table} LIMIT 1")  # readable


async def test_a_database_whose_delivery_log_was_a_table_keeps_its_rows_under_the_view(store: str) -> None:
    """An older database's `webhook_logs` table (with its own copies of the body) becomes `webhook_deliveries`,
    rows and index names with it, and `webhook_logs` the view, which reads body and payload from the events."""
    delivery = "0fa32dec-1cb1-52da-8faa-0ada325439b6"
    body = '{"event":"payment.success","data":{"payment":{"id":"pay_x","notes":{"n":"नमस्ते ₹"}}}}'
    async with owner_connection(store) as conn:
        await conn.execute("DROP VIEW webhook_logs")
        await conn.execute("ALTER TABLE webhook_deliveries RENAME TO webhook_logs")
        for index in ("pkey", "by_merchant", "due"):
            await conn.execute(f"ALTER INDEX webhook_deliveries_{index} RENAME TO webhook_logs_{index}")
        await conn.execute("ALTER TABLE webhook_logs ADD COLUMN body text, ADD COLUMN payload jsonb")
        await conn.execute(
            """INSERT INTO webhook_logs (id, merchant_id, event, status, attempts, created_at, version, updated_at,
                                         body, payload)
               VALUES (%s, gen_random_uuid(), 'payment.success', 'success', 1, now(), 2, now(), %s, %s::jsonb)""",
            (delivery, body, body),
        )
        await conn.execute(
            """INSERT INTO events (event_id, stream_id, stream_version, type, data)
               VALUES (gen_random_uuid(), %s, 1, 'webhook.scheduled.v1', jsonb_build_object('body', %s::text))""",
            (f"webhook-{delivery}", body),
        )
    await apply_schema(store)
    async with app_connection(store) as conn:
        kinds = await conn.execute(
            "SELECT relname, relkind::text FROM pg_class WHERE relname LIKE 'webhook_%%' AND relkind IN ('r', 'v', 'i')"
        )
        found = dict(await kinds.fetchall())
        assert (found["webhook_logs"], found["webhook_deliveries"]) == ("v", "r")
        assert {"webhook_deliveries_pkey", "webhook_deliveries_by_merchant", "webhook_deliveries_due"} <= set(found)
        assert not {"webhook_logs_pkey", "webhook_logs_by_merchant", "webhook_logs_due"} & set(found)
        assert {"body", "payload"}.isdisjoint(await columns(conn, "webhook_deliveries"))
        cur = await conn.execute("SELECT status, body, payload FROM webhook_logs WHERE id = %s", (delivery,))
        status, read_body, payload = await cur.fetchone() or (None, None, None)
        assert (status, read_body) == ("success", body)
        assert payload["data"]["payment"]["notes"] == {"n": "नमस्ते ₹"}
