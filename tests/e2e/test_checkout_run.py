"""`paygate run` (what `make run` starts) builds the checkout if needed and serves it beside the API, as a
supervised part of its own."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from gatekit import AUTH, ROOT, free_port, new_order, poll
from payflow import own_redis

pytestmark = pytest.mark.slow


def answers(url: str) -> dict[str, Any] | None:
    try:
        r = httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return None
    return {"status": r.status_code, "body": r.text, "headers": dict(r.headers)}


def test_paygate_run_serves_the_checkout_beside_the_api(tmp_path: Path, fresh_database: Any) -> None:
    port, checkout_port = free_port(), free_port()
    with own_redis(tmp_path / "redis") as redis_url:
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database(),
            "REDIS_URL": redis_url,
            "PORT": str(port),
            "CHECKOUT_PORT": str(checkout_port),
            "TEST_MODE": "true",
            "LOG_LEVEL": "WARNING",
        }
        with open(tmp_path / "run.log", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "paygate", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            api, checkout = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{checkout_port}"
            health = poll(lambda: answers(f"{api}/health"), lambda a: a is not None and '"healthy"' in a["body"], 120)
            assert health is not None
            sdk = poll(lambda: answers(f"{checkout}/checkout.js"), lambda a: a is not None and a["status"] == 200, 60)
            assert "PaymentGateway" in sdk["body"]
            with httpx.Client(base_url=api, headers=AUTH, timeout=10) as client:
                order_id = new_order(client)["id"]
            page = answers(f"{checkout}/checkout?order_id={order_id}")
            assert page is not None and page["status"] == 200 and 'data-test-id="checkout-container"' in page["body"]
            shown = answers(f"{checkout}/api/v1/orders/{order_id}/public")
            assert shown is not None and shown["status"] == 200 and order_id in shown["body"]
            parts = poll(lambda: httpx.get(f"{api}/health").json().get("parts", {}), lambda p: "checkout" in p, 30)
            assert parts["checkout"]["state"] == "running"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, (tmp_path / "run.log").read_text()[-3000:]
