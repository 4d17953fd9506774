"""A refund worker SIGKILLed while it holds a refund job: the refund still ends processed, exactly once.

The system runs on a database and Redis of its own with a 3 s processor, so the worker is caught holding the
delayed job; the log still says the refund is owed, and the sweeper re-drives it to the next worker.
"""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from payflow import AUTH, events_of, isolated_gateway, paid_payment, poll, refund_status

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, fresh_database: Callable[[], str]) -> Iterator[tuple[Any, str]]:
    database_url = fresh_database()
    with isolated_gateway(
        tmp_path_factory.mktemp("recovery"),
        database_url,
        TEST_PROCESSING_DELAY="3000",
        SWEEP_GRACE_MS="2000",
    ) as gw:
        yield gw, database_url


def held_refund_jobs(redis_url: str) -> int:
    """Refund jobs a worker has taken from Redis and not yet acknowledged."""
    client = redis.Redis.from_url(redis_url)
    return sum(int(client.scard(k)) for k in client.scan_iter("paygate:__acks__.*.refunds*"))


def test_a_refund_survives_its_worker_being_killed_and_is_processed_once(system: tuple[Any, str]) -> None:
    gw, database_url = system
    with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as api:
        pay = paid_payment(api, 50000)
        r = api.post(f"/api/v1/payments/{pay['id']}/refunds", json={"amount": 20000})
        assert r.status_code == 201, r.text
        refund_id = r.json()["id"]

        poll(lambda: held_refund_jobs(gw.env["REDIS_URL"]), lambda n: n >= 1, 30, "a worker holding the refund job")
        gw.kill("worker")
        assert api.get(f"/api/v1/refunds/{refund_id}").json()["status"] == "pending"

        gw.start("worker")
        done = refund_status(api, refund_id, "processed", timeout=60)
        assert done["processed_at"] is not None

        processed = [d for t, d in events_of(database_url, f"payment-{pay['id']}") if t == "refund.processed.v1"]
        assert [d["refund_id"] for d in processed] == [refund_id]
        payment = api.get(f"/api/v1/payments/{pay['id']}").json()
        assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == (
            "success",
            20000,
            "partial",
        )
