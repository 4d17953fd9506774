"""Chaos: ~300 payments from 20 clients against `paygate run` while real faults hit it, on a PostgreSQL cluster
and a redis-server of the suite's own.

Faults: SIGKILL the worker (twice), FLUSHALL Redis, SIGKILL the dispatcher and the projector, restart
PostgreSQL with -m fast and with -m immediate; all along, one merchant's webhook endpoint hangs.
Then: every payment that got a 201 is decided exactly once, no order is paid twice, every subscribed webhook
of the other merchant arrived (duplicates counted and printed), a rebuild equals the live tables, and every
part is still running without a hand restart (the supervisor restarted what was killed).
Each fault's recovery time is printed: until a payment created after it is decided.
"""

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from harness import AUTH, ROOT, scaled
from pgcluster import Cluster, cluster, free_port

import projections
from commands import order, payment
from paygate.database import apply_schema, make_pool
from paygate.settings import Settings
from projections import runner
from workers.jobs import PARTS_KEY

pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.timeout(600)]

CLIENTS, PAYMENTS = 20, 300
PAYMENT_ID = re.compile(rb"pay_[A-Za-z0-9]{16}")


# ---------------------------------------------------------------- webhook endpoints


@dataclass
class Receiver:
    """Records every delivery: how often each webhook id arrived, and which payments they named."""

    hang: bool = False
    by_id: collections.Counter[str] = field(default_factory=collections.Counter)
    payments: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if rec.hang:
                    time.sleep(30)  # longer than the gateway waits: it gives up, never we
                    return
                decided = json.loads(body).get("event") in ("payment.success", "payment.failed")
                with rec.lock:
                    rec.by_id[self.headers.get("webhook-id", "")] += 1
                    if decided:
                        rec.payments.update(m.decode() for m in PAYMENT_ID.findall(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/webhook"


# ---------------------------------------------------------------- the system under test


@dataclass
class System:
    pg: Cluster
    db_url: str
    redis_url: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def parts(self) -> dict[str, dict[str, Any]]:
        raw = redis.Redis.from_url(self.redis_url, socket_timeout=2).hgetall(PARTS_KEY)
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def pid(self, part: str) -> int:
        deadline = time.monotonic() + scaled(30)
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                state = self.parts().get(part, {})
                if state.get("state") == "running" and state.get("pid"):
                    return int(state["pid"])
            time.sleep(0.1)
        raise AssertionError(f"{part} is not running")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + scaled(20)
    while True:
        with contextlib.suppress(redis.RedisError):
            if client.ping():
                break
        assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with cluster() as pg, redis_server() as redis_url:
        db_url = pg.create_database("chaos")
        asyncio.run(apply_schema(db_url))
        port = free_port()
        log_dir = Path(tempfile.mkdtemp(prefix="paygate-chaos-"))
        log = log_dir / "run.log"
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "PORT": str(port),
            "TEST_MODE": "true",
            "TEST_PROCESSING_DELAY": "200",
            "WEBHOOK_RETRY_INTERVALS_TEST": "true",
            "WEBHOOK_REDRIVE_S": "3",
            "SWEEP_GRACE_MS": "2000",
            "SUPERVISOR_MAX_RESTARTS": "50",
            "LOG_LEVEL": "WARNING",
            "CHECKOUT_PORT": "0",  # the UIs have tests of their own (tests/browser)
            "DASHBOARD_PORT": "0",
        }
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "paygate", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        sys_ = System(pg, db_url, redis_url, f"http://127.0.0.1:{port}", proc, log)
        try:
            wait_for("healthy", lambda: health(sys_).get("status") == "healthy", 120, sys_)
            yield sys_
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(60)
            shutil.rmtree(log_dir, ignore_errors=True)


def health(s: System) -> dict[str, Any]:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        body: dict[str, Any] = httpx.get(f"{s.url}/health", timeout=5).json()
        return body
    return {}


def wait_for(what: str, check: Callable[[], Any], timeout: float, s: System) -> Any:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        assert s.proc.poll() is None, f"paygate run exited ({s.proc.returncode}):\n{s.log.read_text()[-4000:]}"
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{s.log.read_text()[-4000:]}")


# ---------------------------------------------------------------- clients


def post(client: httpx.Client, path: str, body: dict[str, Any], key: str, deadline: float) -> httpx.Response | None:
    """POST with an Idempotency-Key, retried with the same key through 503s and cut connections, as merchants
    are told to; None if the deadline passed first."""
    while time.monotonic() < deadline:
        try:
            r = client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if r.status_code in (503, 409):
            time.sleep(float(r.headers.get("Retry-After", "0.5")) / 4)
            continue
        return r
    return None


def pay_once(client: httpx.Client, deadline: float) -> tuple[str, str] | None:
    """One order and its UPI payment; (order id, payment id) when the payment got its 201."""
    o = post(client, "/api/v1/orders", {"amount": random.randint(100, 99999)}, secrets.token_hex(8), deadline)
    if o is None or o.status_code != 201:
        return None
    p = post(
        client,
        "/api/v1/payments",
        {"order_id": o.json()["id"], "method": "upi", "vpa": "chaos@okaxis"},
        secrets.token_hex(8),
        deadline,
    )
    assert p is None or p.status_code == 201, p.text
    return (o.json()["id"], p.json()["id"]) if p is not None else None


def payment_status(s: System, payment_id: str) -> str | None:
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        r = httpx.get(f"{s.url}/api/v1/payments/{payment_id}", headers=AUTH, timeout=5)
        return str(r.json()["status"]) if r.status_code == 200 else None
    return None


def recovery_s(s: System, started: float) -> float:
    """Seconds from ``started`` until a payment created after the fault is decided."""
    deadline = time.monotonic() + scaled(120)
    with httpx.Client(base_url=s.url, headers=AUTH, timeout=10) as client:
        made = pay_once(client, deadline)
    assert made, "no payment could be created after the fault"
    wait_for("the probe payment decided", lambda: payment_status(s, made[1]) in ("success", "failed"), 120, s)
    return time.monotonic() - started


# ---------------------------------------------------------------- the run


def test_payments_survive_chaos(system: System) -> None:
    s = system
    t0 = time.monotonic()
    good, hanging = Receiver(), Receiver(hang=True)
    good_server, good_url = good.serve()
    hang_server, hang_url = hanging.serve()
    other = json.loads(
        subprocess.run(
            [sys.executable, "-m", "paygate", "merchant", "create", "--name", "Hanging", "--email", "hang@example.com"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": s.db_url, "REDIS_URL": s.redis_url},
            check=True,
            capture_output=True,
            timeout=scaled(60),
        ).stdout
    )
    other_auth = {"X-Api-Key": other["api_key"], "X-Api-Secret": other["api_secret"]}
    for auth, url in ((AUTH, good_url), (other_auth, hang_url)):
        r = httpx.put(f"{s.url}/api/v1/webhooks/config", json={"url": url}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text

    created: list[tuple[str, str, str]] = []  # (merchant, order, payment)
    lock = threading.Lock()
    remaining = iter(range(PAYMENTS))
    load_deadline = time.monotonic() + scaled(180)

    def client_loop(n: int) -> None:
        who, auth = ("good", AUTH) if n % 4 else ("hanging", other_auth)
        with httpx.Client(base_url=s.url, headers=auth, timeout=15) as client:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                made = pay_once(client, load_deadline)
                if made:
                    with lock:
                        created.append((who, *made))
                time.sleep(random.uniform(0.05, 0.3))  # spread the load over the faults

    faults: list[tuple[str, Callable[[], None]]] = [
        ("SIGKILL worker", lambda: os.kill(s.pid("worker"), signal.SIGKILL)),
        ("FLUSHALL redis", lambda: redis.Redis.from_url(s.redis_url).flushall()),
        ("SIGKILL dispatcher", lambda: os.kill(s.pid("dispatcher"), signal.SIGKILL)),
        ("SIGKILL projector", lambda: os.kill(s.pid("projector"), signal.SIGKILL)),
        ("restart postgres -m fast", lambda: s.pg.stop("fast") or s.pg.start()),
        ("SIGKILL worker again", lambda: os.kill(s.pid("worker"), signal.SIGKILL)),
        ("restart postgres -m immediate", lambda: s.pg.stop("immediate") or s.pg.start()),
    ]
    recoveries: list[tuple[str, float]] = []
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
        clients = [ex.submit(client_loop, n) for n in range(CLIENTS)]
        for name, fault in faults:
            started = time.monotonic()
            fault()
            recoveries.append((name, recovery_s(s, started)))
        for c in clients:
            c.result()
    load_s = time.monotonic() - t0

    # Every part still running, nothing restarted by hand: the supervisor brought back what was killed.
    body = wait_for("healthy after the faults", lambda: (b := health(s)).get("status") == "healthy" and b, 120, s)
    assert all(p["state"] == "running" for p in body["parts"].values()), body
    restarts = {name: p["restarts"] for name, p in body["parts"].items()}
    assert restarts["worker"] >= 2 and restarts["dispatcher"] >= 1 and restarts["projector"] >= 1, restarts

    payment_ids = [p for _, _, p in created]
    assert len(payment_ids) >= PAYMENTS * 0.9, f"only {len(payment_ids)} of {PAYMENTS} payments got a 201"
    wait_for("every payment decided", lambda: pending(s, payment_ids) == 0, 180, s)

    with psycopg.connect(s.db_url, autocommit=True) as c:
        decisions = dict(
            c.execute(
                """SELECT stream_id, count(*) FROM events
                   WHERE type IN ('payment.succeeded.v1', 'payment.failed.v1') GROUP BY stream_id"""
            ).fetchall()
        )
        paid_twice = c.execute(
            "SELECT stream_id FROM events WHERE type = 'order.paid.v1' GROUP BY stream_id HAVING count(*) > 1"
        ).fetchall()
    assert all(decisions.get(payment.stream_id(p)) == 1 for p in payment_ids), [
        (p, decisions.get(payment.stream_id(p))) for p in payment_ids if decisions.get(payment.stream_id(p)) != 1
    ][:5]
    assert paid_twice == [], paid_twice
    assert len({o for _, o, _ in created}) == len(created)
    assert all(order.stream_id(o) for _, o, _ in created)

    # Every decided payment of the merchant with a working endpoint was delivered to it, however often.
    wanted = {p for who, _, p in created if who == "good"}
    wait_for("every webhook delivered", lambda: wanted <= good.payments, 180, s)
    deliveries = sum(good.by_id.values())
    duplicates = sum(n - 1 for n in good.by_id.values() if n > 1)

    # Rebuild equals live, once the projector caught up with a stopped system.
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(scaled(60)) == 0, s.log.read_text()[-4000:]
    asyncio.run(catch_up_all(s.db_url))
    rebuilt = subprocess.run(
        [sys.executable, "-m", "paygate", "rebuild", "--json"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": s.db_url, "REDIS_URL": s.redis_url},
        capture_output=True,
        timeout=scaled(120),
    )
    report = json.loads(rebuilt.stdout)
    good_server.shutdown()
    hang_server.shutdown()

    print(f"\nchaos: {len(created)} payments with a 201 in {load_s:.1f}s; restarts by the supervisor: {restarts}")
    for name, took in recoveries:
        print(f"chaos: {name:<32} recovered in {took:5.1f}s (a payment made after it was decided)")
    print(
        f"chaos: webhooks: {len(wanted)} payments owed, {deliveries} deliveries received, "
        f"{duplicates} duplicates ({100 * duplicates / max(1, deliveries):.1f}%)"
    )
    assert report["equal"], report


def pending(s: System, payment_ids: list[str]) -> int:
    with psycopg.connect(s.db_url, autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM payments WHERE id = ANY(%s) AND status = 'pending'", (payment_ids,)
        ).fetchone()
        known = c.execute("SELECT count(*) FROM payments WHERE id = ANY(%s)", (payment_ids,)).fetchone()
    assert row is not None and known is not None
    return int(row[0]) + len(payment_ids) - int(known[0])


async def catch_up_all(db_url: str) -> None:
    """The projector's own code, run to the end of the log (the system is stopped, so the end stays put)."""
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    async with make_pool(settings, db_url, max_size=1) as pool, pool.connection() as conn:
        for model in projections.ASYNC:
            while await runner.catch_up(conn, model):
                pass
