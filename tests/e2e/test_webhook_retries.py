"""Webhook retries with real faults: receivers that fail, a flushed Redis, a worker killed mid-delivery.

The scenarios take up to a minute of real timers each (test-mode intervals 5, 10, 15, 20 s), so one fixture
starts them all at once on two systems of their own and each test then waits for its own outcome: the timing
system is left undisturbed, the faults system takes the FLUSHALLs and the SIGKILL. Each system has a database
and a Redis server of its own, so a FLUSHALL touches no other test's queues.
"""

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from gatekit import poll
from payflow import isolated_gateway, merchant_client, paid_payment
from webhooklab import Receiver, configure, receiver

pytestmark = [pytest.mark.slow, pytest.mark.serial]

GAPS_S = [5, 10, 15, 20]


@dataclass
class Scenario:
    api: httpx.Client
    receiver: Receiver
    webhook_id: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        body: dict[str, Any] = self.api.get(f"/api/v1/webhooks/{self.webhook_id}").json()
        return body

    def settled(self, timeout: float = 120) -> dict[str, Any]:
        entry: dict[str, Any] = poll(
            self.entry, lambda e: e.get("status") in ("success", "failed"), timeout, f"outcome of {self.webhook_id}"
        )
        return entry


def only_webhook(api: httpx.Client) -> str:
    listed = poll(lambda: api.get("/api/v1/webhooks").json(), lambda b: b["total"] >= 1, 30, "a scheduled webhook")
    assert listed["total"] == 1, listed
    webhook_id: str = listed["data"][0]["id"]
    return webhook_id


def flush_after_each_failure(s: Scenario, url: str, stop: threading.Event) -> None:
    """FLUSHALL shortly after every failed attempt, and once more halfway to the next one."""
    client, seen = redis.Redis.from_url(url), 0
    while not stop.is_set():
        records = s.receiver.logs()
        for record in records[seen:]:
            if record["status"] == 500:
                time.sleep(0.5)
                client.flushall()
                time.sleep(2)
                client.flushall()
                s.notes["flushes"] = s.notes.get("flushes", 0) + 2
        seen = len(records)
        time.sleep(0.05)


def kill_worker_mid_delivery(s: Scenario, gateway: Any, stop: threading.Event) -> None:
    """SIGKILL the worker as soon as the (slow) receiver has the first POST, then start a new one."""
    while not stop.is_set() and not s.receiver.logs():
        time.sleep(0.02)
    if stop.is_set():
        return
    gateway.kill("worker")
    s.notes["killed_at"] = time.time()
    gateway.start("worker")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any) -> Iterator[Any]:
    logs = tmp_path_factory.mktemp("webhook-retries")
    stop = threading.Event()
    (logs / "timing").mkdir()
    (logs / "faults").mkdir()
    with contextlib.ExitStack() as stack:
        timing = stack.enter_context(
            isolated_gateway(logs / "timing", fresh_database(), WEBHOOK_RETRY_INTERVALS_TEST="true")
        )
        faults = stack.enter_context(
            isolated_gateway(
                logs / "faults", fresh_database(), WEBHOOK_RETRY_INTERVALS_TEST="true", WEBHOOK_REDRIVE_S="8"
            )
        )
        own_redis = faults.env["REDIS_URL"]

        def scenario(gw: Any, name: str, events: list[str] | None = None, **receiver_options: int) -> Scenario:
            api = stack.enter_context(merchant_client(gw, name))
            secret = api.get("/api/v1/webhooks/config").json()["secret"]
            rcv = stack.enter_context(receiver(secret, logs, **receiver_options))
            configure(api, rcv.url, events)
            return Scenario(api, rcv)

        recovering = scenario(timing, "fails-four-times", ["payment.success"], fail_first=4)
        failing = scenario(timing, "always-fails", fail_first=5)
        flushed = scenario(faults, "flushed", ["payment.success"], fail_first=2)
        killed = scenario(faults, "killed", ["payment.success"], delay_ms=3000)

        threads = [
            threading.Thread(target=flush_after_each_failure, args=(flushed, own_redis, stop), daemon=True),
            threading.Thread(target=kill_worker_mid_delivery, args=(killed, faults, stop), daemon=True),
        ]
        for s in (recovering, flushed, killed):
            paid_payment(s.api)
        failing.webhook_id = failing.api.post("/api/v1/webhooks/test").json()["id"]
        for s in (recovering, flushed, killed):
            s.webhook_id = only_webhook(s.api)
        for t in threads:
            t.start()
        yield {"recovering": recovering, "failing": failing, "flushed": flushed, "killed": killed}
        stop.set()
        for t in threads:
            t.join(10)


def arrivals(s: Scenario) -> list[dict[str, Any]]:
    return [r for r in s.receiver.logs() if r["webhook_id"] == s.webhook_id]


def test_a_receiver_failing_four_times_gets_five_attempts_5_10_15_and_20_s_apart(world: dict[str, Scenario]) -> None:
    s = world["recovering"]
    entry = s.settled()
    got = arrivals(s)
    assert (entry["status"], entry["attempts"], entry["response_code"]) == ("success", 5, 200)
    assert entry["next_retry_at"] is None
    assert [r["status"] for r in got] == [500, 500, 500, 500, 200]
    gaps = [round(b["received_at"] - a["received_at"], 2) for a, b in itertools.pairwise(got)]
    assert all(abs(gap - want) <= 1.0 for gap, want in zip(gaps, GAPS_S, strict=True)), gaps
    assert len({r["body"] for r in got}) == 1, "every attempt sends the same bytes"
    assert all(r["signature_valid"] and r["standard_signature_valid"] for r in got)


def test_an_always_failing_receiver_fails_the_delivery_after_exactly_five_attempts(
    world: dict[str, Scenario],
) -> None:
    s = world["failing"]
    entry = s.settled()
    assert (entry["status"], entry["attempts"], entry["response_code"]) == ("failed", 5, 500)
    assert entry["next_retry_at"] is None
    assert json_status(entry["response_body"]) == "failing on purpose"
    time.sleep(3)
    assert len(arrivals(s)) == 5, "no sixth attempt"

    # A manual retry starts over: attempts back to 0, pending, delivered again (the receiver now answers 200).
    r = s.api.post(f"/api/v1/webhooks/{s.webhook_id}/retry")
    assert r.json() == {"id": s.webhook_id, "status": "pending", "message": "Webhook retry scheduled"}
    entry = poll(s.entry, lambda e: e["status"] == "success", 30, "the retried delivery")
    assert (entry["attempts"], entry["response_code"]) == (1, 200)
    assert len(arrivals(s)) == 6


def test_flushing_redis_between_attempts_neither_loses_nor_doubles_one(world: dict[str, Scenario]) -> None:
    s = world["flushed"]
    entry = s.settled()
    got = arrivals(s)
    assert (entry["status"], entry["attempts"]) == ("success", 3)
    assert [r["status"] for r in got] == [500, 500, 200]
    assert s.notes["flushes"] >= 4


def test_a_worker_killed_mid_delivery_leaves_it_delivered_under_the_same_webhook_id(
    world: dict[str, Scenario],
) -> None:
    s = world["killed"]
    entry = s.settled()
    got = arrivals(s)
    assert "killed_at" in s.notes
    assert entry["status"] == "success"
    assert entry["attempts"] == 1, "the killed attempt never recorded an outcome"
    assert len(got) >= 2, "delivered again after the kill"
    assert {r["webhook_id"] for r in got} == {s.webhook_id}
    assert len({r["body"] for r in got}) == 1


def json_status(text: str) -> str:
    import json

    status: str = json.loads(text)["status"]
    return status
