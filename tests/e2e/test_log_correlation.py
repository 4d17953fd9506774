"""A payment's log lines can be followed from the API through the worker: the worker's `payment.decided` line
carries the request id of the POST that created the payment (as `correlation_id`), its payment and merchant,
also when the dispatcher hands the worker several payments in one message (no processing delay)."""

import json
from typing import Any

import pytest
from gatekit import UPI, decided, new_order, poll
from payflow import isolated_gateway, merchant_client

pytestmark = pytest.mark.slow


def decided_lines(worker_log: Any) -> dict[str, dict[str, Any]]:
    lines = [json.loads(line) for line in worker_log.read_text().splitlines() if line.startswith("{")]
    return {line["payment_id"]: line for line in lines if line.get("event") == "payment.decided"}


def test_the_worker_logs_each_decision_with_the_request_that_created_the_payment(
    tmp_path: Any, fresh_database: Any
) -> None:
    with isolated_gateway(tmp_path, fresh_database(), LOG_LEVEL="INFO") as gw, merchant_client(gw, "traced") as api:
        orders = [new_order(api)["id"] for _ in range(5)]
        sent = {}
        for n, order_id in enumerate(orders):  # back to back, so the dispatcher may read several at once
            r = api.post("/api/v1/payments", json={"order_id": order_id, **UPI}, headers={"X-Request-Id": f"trace-{n}"})
            assert r.status_code == 201, r.text
            sent[r.json()["id"]] = f"trace-{n}"
        for payment_id in sent:
            decided(api, payment_id)
        merchant_id = api.get(f"/api/v1/payments/{next(iter(sent))}").json()["merchant_id"]
        lines = poll(
            lambda: decided_lines(gw.logs / "worker.log"),
            lambda found: set(sent) <= set(found),
            30,
            "a payment.decided line for each payment",
        )
        for payment_id, request_id in sent.items():
            line = lines[payment_id]
            assert (line["correlation_id"], line["merchant_id"], line["status"]) == (request_id, merchant_id, "success")
