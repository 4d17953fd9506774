"""Helpers of the contract and fault tests: orders and payments through the real API, polling, new merchants,
and the event store read directly."""

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from harness import Gateway as Gateway
from harness import free_port as free_port
from harness import start_gateway as start_gateway

ROOT = Path(__file__).resolve().parents[2]
ORDER_ID = re.compile(r"^order_[A-Za-z0-9]{16}$")
PAY_ID = re.compile(r"^pay_[A-Za-z0-9]{16}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CARD = {"number": "4111111111111111", "expiry_month": "12", "expiry_year": "2099", "cvv": "123", "holder_name": "A"}
UPI = {"method": "upi", "vpa": "payer@okbank"}
DECISIONS = ("payment.succeeded.v1", "payment.failed.v1")
#: The seeded test merchant's credentials.
AUTH = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30, what: str = "it") -> Any:
    """``fetch()`` until ``done`` holds; fails after ``timeout`` seconds with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}; last: {value!r}")
        time.sleep(0.1)


def new_order(client: httpx.Client, amount: int = 50000, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/v1/orders", json={"amount": amount, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def new_payment(client: httpx.Client, order_id: str, **method: Any) -> dict[str, Any]:
    r = client.post("/api/v1/payments", json={"order_id": order_id, **(method or UPI)})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def decided(client: httpx.Client, payment_id: str, timeout: float = 60) -> dict[str, Any]:
    """The payment once decided. The default wait covers the sweeper's re-drive (30 s past due by default): a
    concurrent test session on the same Redis database may take or flush a job, and only delay the payment."""
    body: dict[str, Any] = poll(
        lambda: client.get(f"/api/v1/payments/{payment_id}/public").json(),
        lambda b: b.get("status") != "pending",
        timeout,
        f"a decision on {payment_id}",
    )
    return body


def new_merchant(env: dict[str, str], name: str = "Other Shop") -> dict[str, str]:
    """Register a merchant with the operator's command; its id and credentials."""
    email = f"{name.lower().replace(' ', '-')}-{secrets.token_hex(4)}@example.com"
    done = subprocess.run(
        [sys.executable, "-m", "paygate", "merchant", "create", "--name", name, "--email", email],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    creds: dict[str, str] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return creds


def event_types(database_url: str, stream_id: str) -> list[str]:
    """The types of a stream's events, read straight from the event store."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT type FROM events WHERE stream_id = %s ORDER BY stream_version", (stream_id,)
        ).fetchall()
    return [r[0] for r in rows]


def decisions(database_url: str, payment_id: str) -> list[str]:
    return [t for t in event_types(database_url, f"payment-{payment_id}") if t in DECISIONS]


def backends_waiting(database_url: str, wait_event: str) -> int:
    """How many sessions of that database wait on ``wait_event`` (``relation``: a table lock; ``SyncRep``: a
    commit waiting for a standby)."""
    with psycopg.connect(database_url, autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = %s",
            (wait_event,),
        ).fetchone()
    return int(row[0]) if row else 0
