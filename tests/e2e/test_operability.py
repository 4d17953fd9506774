"""/ready, /metrics in the Prometheus format, and JSON logs from every library (Dramatiq's own lines included)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import ROOT, Gateway, free_port, scaled
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow


def samples(text: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_ready_and_metrics(gateway: Gateway, api: httpx.Client) -> None:
    assert httpx.get(f"{gateway.url}/ready", timeout=10).json() == {"ready": True, "database": "connected"}
    order = api.post("/api/v1/orders", json={"amount": 50000}).json()
    assert api.get(f"/api/v1/orders/{order['id']}").status_code == 200
    assert api.get("/api/v1/orders/order_doesnotexist0000").status_code == 404
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    got = samples(text)
    latency = {
        (s.labels["route"], s.labels["status"])
        for s in got["paygate_http_request_duration_seconds_count"]
        if s.value > 0
    }
    # By route template, never by raw path: one series per route, whatever the ids.
    assert ("/api/v1/orders/{order_id}", "200") in latency and ("/api/v1/orders/{order_id}", "404") in latency
    assert not any(order["id"] in route for route, _ in latency)
    assert {s.labels["follower"] for s in got["paygate_follower_lag_events"]} >= {"dispatcher"}
    assert all(s.value >= 0 for s in got["paygate_follower_lag_seconds"])
    assert got["paygate_quarantined_events"][0].value >= 0
    assert {s.labels["queue"] for s in got["paygate_queue_depth"]} == {"payments", "refunds", "webhooks"}
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {"paygate_payments", "paygate_webhook_deliveries", "paygate_oldest_pending_age_seconds"} <= families


def test_a_worker_serves_metrics_and_logs_only_json(tmp_path: Path, database_url: str, private_redis: Any) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": private_redis(),
        "LOG_LEVEL": "INFO",
        "METRICS_PORT": str(port),
    }
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "paygate", "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + scaled(60)
        text = ""
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                if "dramatiq" in log.read_text():
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert "paygate_webhook_latency_seconds" in text and "paygate_payments_decided_total" in text
    finally:
        proc.terminate()
        proc.wait(30)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line, or this raises with the one that is not JSON
    assert any(p.get("logger", "").startswith("dramatiq") for p in parsed), lines[:10]
    assert all("timestamp" in p and "level" in p for p in parsed)
