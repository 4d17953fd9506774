"""Deliveries beyond a host's share of a worker go back on the queue, not to the redrive.

One POST at a time may be in flight to the endpoint's host, and only two deliveries may wait for it in the
worker; the endpoint takes 300 ms an answer. A burst of payments owes it many more deliveries than that. The
ones beyond the share must be delivered within seconds (each deferral is ``DEFER_MS``), long before the retry
scheduler's redrive (set to ten minutes here) would find them, and each exactly once.
"""

import time
from collections import Counter
from typing import Any

import psycopg
import pytest
from gatekit import poll
from payflow import isolated_gateway, merchant_client, pending_payment
from webhooklab import configure, receiver

pytestmark = pytest.mark.slow

PAYMENTS = 8


def test_deliveries_beyond_the_host_share_come_back_within_seconds(tmp_path: Any, fresh_database: Any) -> None:
    env = {"WEBHOOK_HOST_CONCURRENCY": "1", "WEBHOOK_HOST_BACKLOG": "2", "WEBHOOK_REDRIVE_S": "600"}
    with isolated_gateway(tmp_path, fresh_database(), **env) as gw, merchant_client(gw, "bursty") as api:
        secret = api.get("/api/v1/webhooks/config").json()["secret"]
        with receiver(secret, tmp_path, delay_ms=300) as endpoint:
            configure(api, endpoint.url, ["payment.created"])
            began = time.monotonic()
            ids = {pending_payment(api)["id"] for _ in range(PAYMENTS)}
            records = endpoint.wait_for(PAYMENTS, timeout=60, what=f"{PAYMENTS} payment.created deliveries")
            took = time.monotonic() - began
            counts = Counter(r["webhook_id"] for r in records)
            assert len(counts) == PAYMENTS and all(n == 1 for n in counts.values()), counts
            assert all(r["status"] == 200 and r["signature_valid"] for r in records)

            def logs() -> list[tuple[Any, ...]]:
                with psycopg.connect(gw.env["DATABASE_URL"]) as conn:
                    return conn.execute(
                        "SELECT body::jsonb->'data'->'payment'->>'id', status, attempts FROM webhook_logs"
                    ).fetchall()

            # The last outcome may still be on its way to the log when its POST has landed.
            rows = poll(logs, lambda rs: all(r[1] != "pending" for r in rs), 30, "every outcome recorded")
            assert {r[0] for r in rows} == ids
            assert all(status == "success" and attempts == 1 for _, status, attempts in rows), rows
            print(f"\n{PAYMENTS} deliveries through a share of 2 in {took:.1f} s")
