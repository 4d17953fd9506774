"""Issue 11, item 5: duplicates under worker SIGKILLs stay rare.

Payments are made from several clients while the worker process (every queue) is SIGKILLed every 2-3 s and
started again at once. Every `payment.success` must reach the receiver, and the share of deliveries that
arrived more than once must stay under 5 %: an attempt is recorded as started before its POST, so a redrive
or a duplicated message finds it in flight and sends nothing, and only a POST cut between its arrival and
its recorded outcome is sent again.
"""

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from gatekit import poll
from payflow import isolated_gateway, merchant_client, pending_payment
from webhooklab import configure, receiver

pytestmark = [pytest.mark.slow, pytest.mark.serial]

PAYMENTS = 300
CLIENTS = 10
#: Each client's pause between payments: about 10 payments a second in all, so the kills fall across the run
#: (about a dozen of them) instead of all on one burst.
PACE_S = 1.0
MAX_DUPLICATE_RATE = 0.05


def delivered(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM webhook_logs WHERE status = 'success'").fetchone()
    return int(row[0]) if row else 0


def test_worker_kills_every_2_to_3_s_leave_under_5_percent_duplicates(tmp_path: Any, fresh_database: Any) -> None:
    env = {"SWEEP_GRACE_MS": "2000", "WEBHOOK_REDRIVE_S": "6"}
    database_url = fresh_database()
    with isolated_gateway(tmp_path, database_url, **env) as gw, merchant_client(gw, "killed-often") as api:
        secret = api.get("/api/v1/webhooks/config").json()["secret"]
        with receiver(secret, tmp_path) as rcv:
            configure(api, rcv.url, ["payment.success"])
            stop, kills = threading.Event(), [0]
            killed_at: list[float] = []

            def killer() -> None:
                rng = random.Random(7)
                while not stop.wait(rng.uniform(2.0, 3.0)):
                    gw.kill("worker")
                    killed_at.append(time.time())
                    gw.start("worker")
                    kills[0] += 1

            thread = threading.Thread(target=killer, daemon=True)
            thread.start()
            try:

                def client(n: int) -> None:
                    for _ in range(n):
                        pending_payment(api)
                        time.sleep(PACE_S)

                with ThreadPoolExecutor(CLIENTS) as pool:
                    list(pool.map(client, [PAYMENTS // CLIENTS] * CLIENTS))
                poll(lambda: delivered(database_url), lambda n: n >= PAYMENTS, 240, f"{PAYMENTS} deliveries")
            finally:
                stop.set()
                thread.join(30)
            rcv_logs = rcv.logs()
            arrivals = Counter(r["webhook_id"] for r in rcv_logs if r["status"] == 200)
        assert len(arrivals) == PAYMENTS, f"{len(arrivals)} of {PAYMENTS} deliveries arrived"
        duplicated = sum(1 for n in arrivals.values() if n > 1)
        rate = duplicated / PAYMENTS
        print(
            f"\n{kills[0]} worker SIGKILLs; {duplicated} of {PAYMENTS} deliveries arrived more than once "
            f"({rate:.1%}), {sum(arrivals.values()) - PAYMENTS} extra POSTs, at most {max(arrivals.values())} of one"
        )
        twice = [webhook_id for webhook_id, n in arrivals.items() if n > 1]
        why = {
            w: (streams(database_url, w), [r["received_at"] for r in rcv_logs if r["webhook_id"] == w]) for w in twice
        }
        assert rate < MAX_DUPLICATE_RATE, f"kills at {killed_at}; sent twice (events, arrivals): {why}"


def streams(database_url: str, webhook_id: str) -> list[tuple[str, str]]:
    """(type, time) of a delivery's events, to tell (with arrival and kill times) why it was sent twice."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT type, recorded_at::text FROM events WHERE stream_id = %s ORDER BY stream_version",
            (f"webhook-{webhook_id}",),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]
