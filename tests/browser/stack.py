"""A whole checkout world for browser tests: a gateway, its checkout server and a demo shop, on three origins
(the API and checkout on 127.0.0.1, the shop on localhost), all real processes."""

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from gatekit import AUTH, free_port, start_gateway

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass
class Stack:
    gateway: Any
    checkout_url: str
    shop_url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return str(self.gateway.env["DATABASE_URL"])

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, headers=AUTH, timeout=10)

    def new_order(self, amount: int = 50000) -> str:
        with self.api() as api:
            r = api.post("/api/v1/orders", json={"amount": amount})
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    def payments_of(self, order_id: str) -> list[dict[str, Any]]:
        with self.api() as api:
            items: list[dict[str, Any]] = api.get(f"/api/v1/orders/{order_id}/payments").json()["items"]
            return items

    def decided_at_ms(self, payment_id: str) -> float:
        """When the payment was decided (the decision event's own time), in ms since the epoch."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SELECT updated_at FROM payments WHERE id = %s", (payment_id,)).fetchone()
        assert row is not None
        return float(row[0].timestamp() * 1000)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.gateway.close()


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s; log {log}")


def _start(folder: Path, name: str, part: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(folder / f"{name}.log", "ab")  # noqa: SIM115 -- closed with the process
    return subprocess.Popen([sys.executable, "-m", "paygate", part], env=env, cwd=ROOT, stdout=log, stderr=log)


def start_stack(folder: Path, database_url: str, redis_url: str, **env: str) -> Stack:
    gw = start_gateway(folder, database_url, redis_url, **env)
    checkout_port, shop_port = free_port(), free_port()
    checkout_url, shop_url = f"http://127.0.0.1:{checkout_port}", f"http://localhost:{shop_port}"
    common = {
        **os.environ,
        **gw.env,
        "CHECKOUT_PORT": str(checkout_port),
        "CHECKOUT_API_URL": gw.url,
        "CHECKOUT_PUBLIC_URL": checkout_url,
        "DEMO_SHOP_PORT": str(shop_port),
    }
    stack = Stack(gw, checkout_url, shop_url)
    try:
        stack.procs.append(_start(folder, "checkout", "checkout", common))
        _wait(checkout_url, stack.procs[-1], folder / "checkout.log")
        stack.procs.append(_start(folder, "demo-shop", "demo-shop", common))
        _wait(shop_url, stack.procs[-1], folder / "demo-shop.log")
    except BaseException:
        stack.close()
        raise
    return stack
