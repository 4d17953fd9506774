"""Issue 11, item 4: a changed webhook URL applies to deliveries already queued.

The old endpoint hangs past the 5 s timeout and only two POSTs may be in flight to its host, so most
deliveries wait in the worker's queue for that host. The merchant then moves to a new endpoint: from that
moment on nothing more is POSTed to the old one (URL and secret are read at the POST, not when the worker took
the delivery), every delivery reaches the new one, and one already delivered is never sent again.
"""

import time
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest
from gatekit import poll
from payflow import isolated_gateway, merchant_client, pending_payment
from webhooklab import configure, receiver

pytestmark = pytest.mark.slow

PAYMENTS = 20
#: Time a POST in flight may still take to land after its URL was read (a loaded machine's scheduling).
LANDING_S = 1.0


def delivered(database_url: str, merchant_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM webhook_logs WHERE merchant_id = %s AND status = 'success'", (merchant_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_queued_deliveries_go_to_the_new_url(tmp_path: Any, fresh_database: Any) -> None:
    env = {"WEBHOOK_HOST_CONCURRENCY": "2", "WEBHOOK_RETRY_INTERVALS_TEST": "true"}
    with isolated_gateway(tmp_path, fresh_database(), **env) as gw, merchant_client(gw, "moving") as api:
        secret = api.get("/api/v1/webhooks/config").json()["secret"]
        with receiver(secret, tmp_path, delay_ms=8000) as old, receiver(secret, tmp_path) as new:
            configure(api, old.url, ["payment.success"])
            for _ in range(PAYMENTS):
                pending_payment(api)
            old.wait_for(2, what="the old endpoint holding two POSTs")
            configure(api, new.url)
            moved_at = time.time()
            merchant_id = _merchant(api)
            poll(lambda: delivered(gw.env["DATABASE_URL"], merchant_id), lambda n: n == PAYMENTS, 120, "all delivered")
            late = [r for r in old.logs() if r["received_at"] > moved_at + LANDING_S]
            assert late == [], f"{len(late)} POSTs went to the old URL after the change"
            at_new = Counter(r["webhook_id"] for r in new.logs())
            assert len(at_new) == PAYMENTS and all(n == 1 for n in at_new.values()), at_new
            assert all(r["status"] == 200 and r["signature_valid"] for r in new.logs())
            print(
                f"\n{len(old.logs())} POSTs at the old URL (all before the change), {sum(at_new.values())} at the new"
            )


def _merchant(api: httpx.Client) -> str:
    """The merchant's id, as its own delivery log shows it."""
    entry = api.get("/api/v1/webhooks?limit=1").json()["data"][0]
    merchant_id: str = api.get(f"/api/v1/webhooks/{entry['id']}").json()["merchant_id"]
    return merchant_id
