"""Each payment is decided exactly once, whatever crashes or duplicates happen: racing workers, a worker killed
mid-payment, a flushed Redis, two payments racing to pay one order."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
import redis
from gatekit import AUTH, CARD, decided, decisions, event_types, new_order, new_payment, poll, start_gateway

from workers.broker import NAMESPACE, Broker

pytestmark = pytest.mark.slow

#: How long the processor holds each payment on the gateway of this module.
DELAY_MS = 2000


class Faulty:
    """A whole system of its own whose processor takes DELAY_MS and declines every payment, with a sweeper that
    re-drives a payment one second after it should have been decided."""

    def __init__(self, gateway: Any, client: httpx.Client) -> None:
        self.gateway = gateway
        self.client = client
        self.database_url: str = gateway.env["DATABASE_URL"]
        self.redis = redis.Redis.from_url(gateway.env["REDIS_URL"])

    def jobs(self) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get("/api/v1/test/jobs/status").json()
        return body

    def live_workers(self) -> int:
        return int(self.redis.zcard(f"{NAMESPACE}:workers:alive"))

    def send(self, actor: str, args: tuple[Any, ...], times: int) -> None:
        """Enqueue ``times`` copies of one ``payments`` job, as a redelivering broker might."""
        broker = Broker(url=self.gateway.env["REDIS_URL"], namespace=NAMESPACE)  # its enqueues wake idle workers
        try:
            for _ in range(times):
                broker.enqueue(dramatiq.Message("payments", actor, args, {}, {}))
        finally:
            broker.close()


@pytest.fixture(scope="module")
def faulty(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: Callable[[], str], private_redis: Callable[[], str]
) -> Iterator[Faulty]:
    folder: Path = tmp_path_factory.mktemp("faulty")
    gw = start_gateway(
        folder,
        fresh_database(),
        private_redis(),
        TEST_PROCESSING_DELAY=str(DELAY_MS),
        TEST_PAYMENT_SUCCESS="false",
        SWEEP_GRACE_MS="1000",
    )
    try:
        with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as client:
            yield Faulty(gw, client)
    finally:
        gw.close()


def test_a_declined_payment_fails_with_payment_failed_and_leaves_its_order_open(faulty: Faulty) -> None:
    order = new_order(faulty.client)
    body = decided(faulty.client, new_payment(faulty.client, order["id"])["id"])
    assert (body["status"], body["error_code"]) == ("failed", "PAYMENT_FAILED")
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert faulty.client.get(f"/api/v1/orders/{order['id']}").json()["status"] == "created"
    assert new_payment(faulty.client, order["id"], method="card", card=CARD)["status"] == "pending"


def test_two_workers_racing_on_one_payment_decide_it_once(faulty: Faulty) -> None:
    faulty.gateway.start_named("worker-2", "worker")
    try:
        poll(faulty.live_workers, lambda n: n >= 2, what="two live workers")
        completed = faulty.jobs()["completed"]
        payment = new_payment(faulty.client, new_order(faulty.client)["id"])
        faulty.send("process_payment", (payment["id"], "upi"), times=30)
        decided(faulty.client, payment["id"])
        # the 30 duplicates and the dispatcher's own (delayed) job all ran, and found the work done
        poll(
            faulty.jobs,
            lambda j: j["completed"] >= completed + 31 and j["pending"] == j["processing"] == 0,
            timeout=60,
            what="every duplicate job to run",
        )
        assert decisions(faulty.database_url, payment["id"]) == ["payment.failed.v1"]
        assert event_types(faulty.database_url, f"payment-{payment['id']}")[0] == "payment.created.v1"
    finally:
        faulty.gateway.stop("worker-2")


def test_batch_messages_naming_payments_again_and_again_decide_each_once(faulty: Faulty) -> None:
    """The dispatcher's batch form (``process_payments``, one message for a batch's undelayed decisions):
    copies of a message that names each payment several times, on two workers, still decide each once."""
    faulty.gateway.start_named("worker-2", "worker")
    try:
        poll(faulty.live_workers, lambda n: n >= 2, what="two live workers")
        payments = [new_payment(faulty.client, new_order(faulty.client)["id"]) for _ in range(3)]
        items = [[p["id"], "upi", {"payment_id": p["id"]}] for p in payments] * 4
        faulty.send("process_payments", (items,), times=10)
        for p in payments:
            decided(faulty.client, p["id"])
        poll(
            faulty.jobs,
            lambda j: j["pending"] == j["processing"] == 0,
            timeout=60,
            what="every copy and the dispatcher's own (delayed) jobs to run",
        )
        for p in payments:
            assert decisions(faulty.database_url, p["id"]) == ["payment.failed.v1"]
    finally:
        faulty.gateway.stop("worker-2")


def test_a_worker_killed_mid_payment_leaves_it_decided_exactly_once(faulty: Faulty) -> None:
    payment = new_payment(faulty.client, new_order(faulty.client)["id"])
    # the worker has taken the (delayed) job and holds it unacknowledged: kill it there
    poll(faulty.jobs, lambda j: j["processing"] >= 1, what="the worker to take the job")
    faulty.gateway.kill("worker")
    faulty.gateway.start("worker")
    assert decided(faulty.client, payment["id"], timeout=60)["status"] == "failed"
    assert decisions(faulty.database_url, payment["id"]) == ["payment.failed.v1"]


def test_a_flushed_redis_only_delays_pending_payments(faulty: Faulty) -> None:
    faulty.gateway.stop("worker")
    try:
        poll(faulty.jobs, lambda j: j["worker_status"] == "stopped", what="the worker to stop")
        health = faulty.client.get("/health").json()
        assert (health["worker"], health["database"], health["redis"]) == ("stopped", "connected", "connected")
        assert health["status"] != "healthy"
        made = [new_payment(faulty.client, new_order(faulty.client)["id"])["id"] for _ in range(3)]
        poll(faulty.jobs, lambda j: j["pending"] >= 3, what="the dispatcher to enqueue the jobs")
        # The dispatcher has passed these payments by; stopped, it (and its sweeper) enqueues nothing meanwhile.
        faulty.gateway.stop("dispatcher")
        faulty.redis.flushdb()  # only this system's Redis database: other test runs share the server
        assert faulty.jobs()["pending"] == 0
    finally:
        for part in ("dispatcher", "worker"):
            if part not in faulty.gateway.procs:
                faulty.gateway.start(part)
    for payment_id in made:
        assert decided(faulty.client, payment_id, timeout=60)["status"] == "failed"
        assert decisions(faulty.database_url, payment_id) == ["payment.failed.v1"]


#: How long the processor holds each payment on the racing test's gateway: the second payment must be created
#: while the first is still pending (with no delay, a quick worker decides the first before it arrives).
RACE_DELAY_MS = 3000


def test_of_two_payments_racing_to_pay_one_order_only_one_succeeds(
    tmp_path: Path, fresh_database: Callable[[], str], private_redis: Callable[[], str]
) -> None:
    gateway = start_gateway(tmp_path, fresh_database(), private_redis(), TEST_PROCESSING_DELAY=str(RACE_DELAY_MS))
    try:
        with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as api:
            _race(gateway, api)
    finally:
        gateway.close()


def _race(gateway: Any, api: httpx.Client) -> None:
    order = new_order(api)
    first = new_payment(api, order["id"])
    second = new_payment(api, order["id"], method="card", card=CARD)
    outcomes = {decided(api, p["id"])["status"] for p in (first, second)}
    assert outcomes == {"success", "failed"}
    loser = next(p for p in (first, second) if api.get(f"/api/v1/payments/{p['id']}").json()["status"] == "failed")
    assert api.get(f"/api/v1/payments/{loser['id']}").json()["error_code"] == "PAYMENT_FAILED"
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "paid"
    database_url = gateway.env["DATABASE_URL"]
    assert event_types(database_url, f"order-{order['id']}") == ["order.created.v1", "order.paid.v1"]
    assert sorted(decisions(database_url, first["id"]) + decisions(database_url, second["id"])) == [
        "payment.failed.v1",
        "payment.succeeded.v1",
    ]
