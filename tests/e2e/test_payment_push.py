"""Server push of one payment's outcome (`/public/events`): it reaches a stream on any API process, whichever
process or worker decided the payment, and ends once the payment is final."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gatekit import AUTH, ROOT, free_port, new_order, new_payment, poll
from payflow import isolated_gateway

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_apis(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any) -> Iterator[tuple[Any, str]]:
    """A whole system whose payments take 1.5 s, plus a second API process on the same database."""
    folder: Path = tmp_path_factory.mktemp("push")
    with isolated_gateway(folder, fresh_database(), TEST_PROCESSING_DELAY="1500") as gw:
        port = free_port()
        with open(folder / "api2.log", "ab") as log:
            second = subprocess.Popen(
                [sys.executable, "-m", "paygate", "api"],
                env={**os.environ, **gw.env, "PORT": str(port)},
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            poll(lambda: _ready(url), bool, 60, "the second API")
            yield gw, url
        finally:
            second.terminate()
            second.wait(30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def events(url: str, payment_id: str) -> list[dict[str, Any]]:
    """Every ``payment`` event of one stream, read until the server ends it."""
    out: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{url}/api/v1/payments/{payment_id}/public/events", timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "payment":
                out.append(json.loads(line[6:]))
    return out


def test_a_stream_on_another_api_process_sees_the_decision_and_ends(two_apis: tuple[Any, str]) -> None:
    gw, other = two_apis
    with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as api:
        order = new_order(api)
        payment = new_payment(api, order["id"])
    seen = events(other, payment["id"])
    assert [e["status"] for e in seen] == ["pending", "success"]
    assert set(seen[-1]) == {"id", "order_id", "amount", "currency", "method", "status", "signature"}
    assert "signature" not in seen[0]


def test_a_final_payment_streams_once_and_ends(two_apis: tuple[Any, str]) -> None:
    gw, _ = two_apis
    with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as api:
        payment = new_payment(api, new_order(api)["id"])
        poll(lambda: api.get(f"/api/v1/payments/{payment['id']}").json()["status"], lambda s: s != "pending", 60)
    assert [e["status"] for e in events(gw.url, payment["id"])] == ["success"]


def test_an_unknown_payment_is_a_404_with_the_error_body(two_apis: tuple[Any, str]) -> None:
    gw, _ = two_apis
    r = httpx.get(f"{gw.url}/api/v1/payments/pay_0000000000000000/public/events", timeout=10)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND_ERROR"
