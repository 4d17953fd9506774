"""Benchmark of the core: event-store appends, the payments API, worker decisions, memory. Prints a table.

Runs against the machine's PostgreSQL and Redis on 127.0.0.1 (fresh databases, dropped afterwards), starts
the gateway's own processes on free ports, and takes about two minutes. Not a test: it asserts nothing and
reports whatever it measures against the targets of issue 2.

    python bench/core.py [--seconds 8] [--payments 4000] [--api-workers 1]
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ledger  # noqa: E402 -- after the path set-up, so the script runs from a plain checkout too
from paygate.database import APP_ROLE, apply_schema  # noqa: E402

KEY, SECRET = "key_test_abc123", "secret_test_xyz789"
AUTH = {"X-Api-Key": KEY, "X-Api-Secret": SECRET}
WRITERS = (1, 8, 32)
PAYLOAD = {
    "payment_id": "pay_" + "x" * 16,
    "order_id": "order_" + "y" * 16,
    "merchant_id": "550e8400-e29b-41d4-a716-446655440000",
    "amount": 50000,
    "currency": "INR",
    "method": "upi",
    "vpa": "bench@okbank",
    "created_at": "2024-01-15T10:31:00Z",
}
META = {"merchant_id": "550e8400-e29b-41d4-a716-446655440000", "actor": "bench", "request_id": "0123456789abcdef"}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_db(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


@contextlib.contextmanager
def fresh_database(admin_url: str, label: str) -> Iterator[str]:
    """A new database with schema.sql applied, dropped on exit."""
    name = f"paygate_bench_{label}_{secrets.token_hex(3)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_db(admin_url, name)
    try:
        asyncio.run(apply_schema(url))
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def empty_redis_db(base: str) -> Iterator[str]:
    """A Redis database number nobody uses (tests take 9–14), flushed on exit."""
    for number in (15, 8, 7, 6):
        client = redis.Redis.from_url(f"{base}/{number}")
        if client.dbsize() == 0:
            try:
                yield f"{base}/{number}"
            finally:
                client.flushdb()
            return
    raise RuntimeError("no empty Redis database among 15, 8, 7, 6")


# ---------------------------------------------------------------- (a) raw INSERT vs ledger.append

RAW_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL, stream_id text NOT NULL,
    type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())
"""
RAW_INSERT = "INSERT INTO bench_raw (event_id, stream_id, type, data, metadata) VALUES (%s, %s, %s, %s, %s)"

Op = Callable[[psycopg.AsyncConnection[Any], int, int], Awaitable[None]]


async def raw_insert(conn: psycopg.AsyncConnection[Any], writer: int, n: int) -> None:
    from psycopg.types.json import Jsonb

    await conn.execute(RAW_INSERT, (uuid.uuid4(), f"bench-{writer}", "bench.event.v1", Jsonb(PAYLOAD), Jsonb(META)))


def ledger_append(in_transaction: bool, tag: str) -> Op:
    """Each writer appends to a stream of its own (new for each run), at the version it last wrote."""

    async def op(conn: psycopg.AsyncConnection[Any], writer: int, n: int) -> None:
        event = ledger.NewEvent("bench.event.v1", PAYLOAD, META)
        if in_transaction:
            async with conn.transaction():
                await ledger.append(conn, f"bench-{tag}-tx-{writer}", [event], expected_version=n)
        else:
            await ledger.append(conn, f"bench-{tag}-{writer}", [event], expected_version=n)

    return op


async def throughput(
    url: str,
    op: Op,
    writers: int,
    seconds: float,
    warmup: float = 1.0,
    prepare: Callable[[psycopg.AsyncConnection[Any]], None] | None = None,
) -> float:
    """Operations per second of ``writers`` connections running ``op`` back to back (after a warm-up);
    ``prepare`` is called on each connection first."""
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(writers)]
    for c in conns:
        await c.execute(f"SET ROLE {APP_ROLE}")
        if prepare is not None:
            prepare(c)
    counts = [0] * writers
    start_at = time.perf_counter() + warmup
    end_at = start_at + seconds
    marks: list[int] = []

    async def run(i: int, conn: psycopg.AsyncConnection[Any]) -> None:
        while time.perf_counter() < end_at:
            await op(conn, i, counts[i])
            counts[i] += 1

    async def sample() -> None:
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        marks.append(sum(counts))
        await asyncio.sleep(max(0.0, end_at - time.perf_counter()))
        marks.append(sum(counts))

    await asyncio.gather(sample(), *(run(i, c) for i, c in enumerate(conns)))
    for c in conns:
        await c.close()
    return (marks[1] - marks[0]) / seconds


async def bench_append(url: str, seconds: float) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(RAW_TABLE)
        await conn.execute(f"GRANT SELECT, INSERT ON bench_raw TO {APP_ROLE}")
    rows = []
    for writers in WRITERS:
        raw = await throughput(url, raw_insert, writers, seconds)
        app = await throughput(url, ledger_append(False, str(writers)), writers, seconds)
        app_tx = await throughput(url, ledger_append(True, str(writers)), writers, seconds)
        # Diagnosis: the same appends without the NOTIFY wake-up trigger (PostgreSQL serialises the commits
        # of notifying transactions on one lock). Only in this throw-away database.
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("ALTER TABLE events DISABLE TRIGGER events_wake_readers")
            try:
                quiet = await throughput(url, ledger_append(False, f"quiet-{writers}"), writers, seconds)
            finally:
                await conn.execute("ALTER TABLE events ENABLE TRIGGER events_wake_readers")
        rows.append({"writers": writers, "raw": raw, "append": app, "append_tx": app_tx, "no_notify": quiet})
        log(
            f"append: {writers:>2} writers raw {raw:,.0f}/s, append {app:,.0f}/s, in a transaction {app_tx:,.0f}/s,"
            f" without NOTIFY {quiet:,.0f}/s"
        )
    return rows


# ---------------------------------------------------------------- the gateway's processes


@dataclass
class System:
    """Parts of the gateway as separate processes, as `paygate run` starts them."""

    env: dict[str, str]
    port: int
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, part: str, *args: str) -> None:
        with open(self.logs / f"{part}.log", "ab") as out:
            self.procs[part] = subprocess.Popen(
                [sys.executable, "-m", "paygate", part, *args], env=self.env, cwd=ROOT, stdout=out, stderr=out
            )

    def wait_api(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if httpx.get(f"{self.url}/health", timeout=2).json().get("database") == "connected":
                    return
            time.sleep(0.2)
        raise RuntimeError(f"API not up in {timeout}s; see {self.logs}")

    def rss_mb(self, part: str) -> tuple[float, int]:
        """Largest resident set of the part's processes (uvicorn workers are children), and how many there are."""
        root = psutil.Process(self.procs[part].pid)
        procs = [root, *root.children(recursive=True)]
        return max(p.memory_info().rss for p in procs) / 2**20, len(procs)

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()


@contextlib.contextmanager
def system(database_url: str, redis_url: str, logs: Path, **env: str) -> Iterator[System]:
    full = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TEST_MODE": "true",
        "TEST_PROCESSING_DELAY": "0",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    port = free_port()
    full["PORT"] = str(port)
    s = System(full, port, logs)
    try:
        yield s
    finally:
        s.stop()


async def create(url: str, n: int, with_payment: bool, conns: int = 32) -> tuple[list[str], list[str]]:
    """``n`` orders (and a pending UPI payment on each) through the API; returns their ids."""
    orders: list[str] = []
    payments: list[str] = []
    todo = iter(range(n))
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits, timeout=30) as client:

        async def post(path: str, body: dict[str, Any]) -> str:
            for attempt in range(3):  # a kept-alive connection the server just closed: try once more
                try:
                    r = await client.post(path, json=body)
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
            r.raise_for_status()
            return str(r.json()["id"])

        async def one_by_one() -> None:
            for _ in todo:
                orders.append(await post("/api/v1/orders", {"amount": random.randint(100, 10**6)}))
                if with_payment:
                    body = {"order_id": orders[-1], "method": "upi", "vpa": "bench@okbank"}
                    payments.append(await post("/api/v1/payments", body))

        await asyncio.gather(*(one_by_one() for _ in range(conns)))
    return orders, payments


def load(url: str, mode: str, ids: list[str], conns: int, seconds: float, work: Path) -> dict[str, Any]:
    """Closed-loop load with ``conns`` connections; wrk when installed, else the Python fallback."""
    ids_file = work / f"{mode}-ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    if shutil.which("wrk"):
        script = str(ROOT / "bench" / "rotate.lua")
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", script, url]
        cmd += ["--", mode, str(ids_file), KEY, SECRET]
        tool = "wrk"
    else:
        cmd = [sys.executable, str(ROOT / "bench" / "httpload.py"), url, mode, str(ids_file), KEY, SECRET]
        cmd += [str(conns), str(seconds)]
        tool = "python-httpx (wrk not installed: apt-get install wrk)"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    figures = dict(json.loads(line.removeprefix("BENCH_JSON ")))
    figures["rps"] = figures["requests"] / figures["duration_s"]
    figures["tool"] = tool
    return figures


def pending(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM payments WHERE status = 'pending'").fetchone()
        return int(row[0]) if row else 0


def bench_http(admin: str, redis_base: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with fresh_database(admin, "http") as db, empty_redis_db(redis_base) as rd:
        with system(db, rd, work, API_WORKERS=str(args.api_workers)) as s:
            s.start("api")
            s.wait_api()
            # Workers stay stopped: a paid order refuses new payments, and this measures the API alone.
            orders, _ = asyncio.run(create(s.url, 500, with_payment=False))
            log(f"http: {len(orders)} orders; POST /api/v1/payments for {args.seconds:.0f}s")
            post = load(s.url, "post", orders, 32, args.seconds, work)
            with psycopg.connect(db) as conn:
                ids = [r[0] for r in conn.execute("SELECT id FROM payments ORDER BY random() LIMIT 5000")]
            log(f"http: {post['rps']:,.0f} req/s; GET /api/v1/payments/{{id}} for {args.seconds:.0f}s")
            get = load(s.url, "get", ids, 32, args.seconds, work)
            log(f"http: {get['rps']:,.0f} req/s")
            rss, nprocs = s.rss_mb("api")
            return {"post": post, "get": get, "api_rss_mb": rss, "api_procs": nprocs, "payments": pending(db)}


def bench_decisions(admin: str, redis_base: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    tuning = {"WORKER_THREADS": str(args.worker_threads)} if args.worker_threads else {}
    with fresh_database(admin, "decide") as db, empty_redis_db(redis_base) as rd:
        with system(db, rd, work, **tuning) as s:
            s.start("api")
            s.wait_api()
            _, payments = asyncio.run(create(s.url, args.payments, with_payment=True))
            log(f"decide: {len(payments)} pending payments, one per order; starting projector, worker, dispatcher")
            s.start("projector")
            s.start("worker")
            time.sleep(2)  # let the worker boot, so the clock below measures deciding, not importing
            began = time.monotonic()
            s.start("dispatcher")
            left = len(payments)
            while left and time.monotonic() - began < 180:
                time.sleep(0.25)
                left = pending(db)
            wall = time.monotonic() - began
            with psycopg.connect(db) as conn:
                row = conn.execute(
                    "SELECT count(*), min(updated_at), max(updated_at), count(*) FILTER (WHERE status = 'success')"
                    " FROM payments WHERE status <> 'pending'"
                ).fetchone()
            assert row is not None
            decided, first, last, succeeded = row
            span = (last - first).total_seconds() if decided > 1 else float("nan")
            worker_rss, _ = s.rss_mb("worker")
            others = {part: s.rss_mb(part)[0] for part in ("dispatcher", "projector")}
            log(f"decide: {decided} decided in {wall:.1f}s")
            return {
                "created": len(payments),
                "decided": decided,
                "succeeded": succeeded,
                "wall_s": wall,
                "rate_span": (decided - 1) / span if span and span > 0 else float("nan"),
                "rate_wall": decided / wall,
                "worker_rss_mb": worker_rss,
                "other_rss_mb": others,
            }


# ---------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report(args: argparse.Namespace, env: dict[str, Any], appends: list[dict[str, Any]], http: dict[str, Any],
           dec: dict[str, Any]) -> None:  # fmt: skip
    print()
    print(f"paygate core benchmark — {env['when']}")
    print(f"machine: {env['cpus']} CPUs, {env['mem_gb']:.0f} GB, load average before {env['load_before']}")
    print(f"PostgreSQL {env['pg_version']} and Redis {env['redis_version']} on 127.0.0.1; Python {env['python']}")
    print(f"command: {env['command']}")
    print()
    print("(a) event store: single-event transactions per second, one connection per writer")
    print(
        f"  {'writers':>7} {'raw INSERT':>11} {'ledger.append':>14} {'ratio':>6} {'append in tx':>13} {'ratio':>6}"
        f" {'w/o NOTIFY':>11} {'ratio':>6}"
    )
    for r in appends:
        print(
            f"  {r['writers']:>7} {r['raw']:>11,.0f} {r['append']:>14,.0f} {r['append'] / r['raw']:>6.0%}"
            f" {r['append_tx']:>13,.0f} {r['append_tx'] / r['raw']:>6.0%}"
            f" {r['no_notify']:>11,.0f} {r['no_notify'] / r['raw']:>6.0%}"
        )
    print("  (append in tx: inside BEGIN/COMMIT as command handlers run it; w/o NOTIFY: the wake-up trigger off)")
    last = appends[-1]
    print(f"  target: append >= 70% of raw INSERT at 32 writers: {verdict(last['append'] / last['raw'] >= 0.7)}")
    print()
    post, get = http["post"], http["get"]
    print(f"(b) HTTP API, 32 connections, {args.seconds:.0f}s each, load from {post['tool']}")
    print(f"    (API_WORKERS={args.api_workers}, LOG_LEVEL=WARNING, workers stopped; machine PostgreSQL and Redis)")
    print(f"  {'request':<30} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'non-2xx':>8} {'errors':>7}")
    for name, f in (("POST /api/v1/payments", post), ("GET /api/v1/payments/{id}", get)):
        print(
            f"  {name:<30} {f['rps']:>8,.0f} {f['p50_ms']:>7.1f} {f['p99_ms']:>7.1f} {f['max_ms']:>7.1f}"
            f" {f['non2xx']:>8} {f['errors']:>7}"
        )
    print(
        f"  target: POST >= 2,400 req/s with p99 <= 40 ms: {verdict(post['rps'] >= 2400 and post['p99_ms'] <= 40)};"
        f" GET >= 5,600 req/s: {verdict(get['rps'] >= 5600)}"
    )
    print()
    threads = args.worker_threads or "default"
    print(f"(c) payments decided by one worker process (WORKER_THREADS={threads}; TEST_MODE, no delay; every payment")
    print("    succeeds and pays its own order); dispatcher and projector running too")
    print(
        f"  {dec['decided']:,} of {dec['created']:,} decided ({dec['succeeded']:,} success) in {dec['wall_s']:.1f}s"
        f" from dispatcher start: {dec['rate_wall']:,.0f}/s overall, {dec['rate_span']:,.0f}/s first to last decision"
    )
    print(f"  target: >= 1,000 decided/s: {verdict(dec['rate_span'] >= 1000)}")
    print()
    print("(d) resident memory after the load above")
    print(f"  API       {http['api_rss_mb']:>6.0f} MB (largest of {http['api_procs']} process(es))")
    print(f"  worker    {dec['worker_rss_mb']:>6.0f} MB")
    for part, mb in dec["other_rss_mb"].items():
        print(f"  {part:<9} {mb:>6.0f} MB")
    ok = http["api_rss_mb"] <= 120 and dec["worker_rss_mb"] <= 120
    print(f"  target: API and worker <= 120 MB each: {verdict(ok)}")
    print(f"\nload average after: {env['load_after']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--redis", default=os.environ.get("BENCH_REDIS_BASE", "redis://127.0.0.1:6379"))
    p.add_argument("--seconds", type=float, default=8, help="length of each measured run")
    p.add_argument("--payments", type=int, default=4000, help="payments the workers decide in (c)")
    p.add_argument("--api-workers", type=int, default=1, help="uvicorn processes of the API in (b)")
    p.add_argument("--worker-threads", type=int, default=0, help="WORKER_THREADS in (c) (default: the setting's)")
    args = p.parse_args()
    try:
        with psycopg.connect(args.pg, connect_timeout=3) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()
        redis.Redis.from_url(args.redis, socket_connect_timeout=3).ping()
    except (psycopg.Error, redis.RedisError) as e:
        print(f"bench needs PostgreSQL at {args.pg} and Redis at {args.redis} (--pg / --redis): {e}", file=sys.stderr)
        return 2
    if os.getloadavg()[0] > 1.0:
        log(f"warning: load average {os.getloadavg()[0]:.1f} before start; figures will be lower than when quiet")
    env = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "mem_gb": psutil.virtual_memory().total / 2**30,
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "pg_version": pg_version[0] if pg_version else "?",
        "redis_version": redis.Redis.from_url(args.redis).info("server")["redis_version"],
        "python": sys.version.split()[0],
        "command": "python bench/core.py " + " ".join(sys.argv[1:]),
    }
    with contextlib.suppress(ImportError):
        import uvloop  # the servers run on it too; the client side of (a) should not be the bottleneck

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    work = Path(tempfile.mkdtemp(prefix="paygate-bench-"))
    try:
        with fresh_database(args.pg, "ledger") as db:
            appends = asyncio.run(bench_append(db, args.seconds / 2))
        http = bench_http(args.pg, args.redis, args, work)
        dec = bench_decisions(args.pg, args.redis, args, work)
    except BaseException:
        log(f"failed; the processes' logs are in {work}")
        raise
    shutil.rmtree(work, ignore_errors=True)
    env["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report(args, env, appends, http, dec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
