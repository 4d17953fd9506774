"""The projector process runs the chainer: new events get chained, and the chain's lag shows in /health
details and /metrics."""

import time

import httpx
import pytest
from harness import Gateway, scaled
from test_operability import samples

pytestmark = pytest.mark.slow


def test_the_chain_follows_the_log_and_reports_its_lag(gateway: Gateway, api: httpx.Client) -> None:
    assert "chain" not in httpx.get(f"{gateway.url}/health", timeout=10).json()
    bad = httpx.get(f"{gateway.url}/health?details=maybe", timeout=10)
    assert bad.status_code == 400 and set(bad.json()["error"]) >= {"code", "description"}
    before = httpx.get(f"{gateway.url}/health?details=true", timeout=10).json()["chain"]
    api.post("/api/v1/orders", json={"amount": 50000}).raise_for_status()
    deadline = time.monotonic() + scaled(30)
    while True:
        chain = httpx.get(f"{gateway.url}/health?details=true", timeout=10).json()["chain"]
        if chain["head"] > before["head"] and chain["lag_events"] == 0:
            break
        assert time.monotonic() < deadline, f"the chain did not catch up: {chain}"
        time.sleep(0.1)
    assert chain["lag_seconds"] == 0
    got = samples(httpx.get(f"{gateway.url}/metrics", timeout=10).text)
    assert got["paygate_chain_head"][0].value >= chain["head"]
    assert {"paygate_chain_lag_events", "paygate_chain_lag_seconds"} <= set(got)
    assert "chainer" in {s.labels["follower"] for s in got["paygate_follower_lag_events"]}
