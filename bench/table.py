"""`make bench`: every performance figure of the gateway in one table, calibrated by R in the same run.

R is the raw single-row INSERT rate at 32 connections, measured with pgbench against the machine's PostgreSQL
at the start of the run; throughput goals are multiples of R, so figures from a slow day and a fast day compare.
Then, in order:

- the event store: ledger.append (as command handlers run it, in a transaction) against a raw INSERT from the
  same Python harness, 32 writers each;
- `paygate run` as `make run` starts it (API, worker, dispatcher, projector; default settings, logs at INFO)
  in test mode with a 600 s processing delay: idle CPU over 60 s, then wrk (2 threads, 32 connections, 2 s
  warm-up, 6 s measured) on POST /api/v1/payments over 200 orders, GET /api/v1/payments/{id}, POST
  /api/v1/orders, then the RSS of each process;
- end to end (delay 0, a webhook URL for every event: three deliveries a payment): 200 payments from 20
  clients, a burst of 2,000, decisions/s and webhooks/s, then the RSS of each process;
- the instructions per event of the projector's two followers (the projection runner and the chainer) and of
  the dispatcher over the first events of that end-to-end log, the API's instructions per request of each hot
  route (the app's in process, one request at a time and 32 at a time as wrk sends them, then the whole API
  process's with uvicorn serving one kept-alive connection),
  and the worker's per payment decided and per webhook delivered, under callgrind (bench/instructions.py):
  nearly the same from run to run, where CPU time is not (skipped without valgrind and gcc).

Runs against PostgreSQL on 127.0.0.1:5432 (fresh databases, dropped afterwards) and a Redis server of its own.
Not a test: it asserts nothing and prints what it measures.

    python bench/table.py [--seconds 6] [--idle 60] [--skip-e2e] [--instr 300]
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core import (
    KEY,
    RAW_TABLE,
    ROOT,
    SECRET,
    free_port,
    fresh_database,
    ledger_append,
    log,
    raw_insert,
    throughput,
)
from webhooks import Client, Gateway, Receiver, orders, own_redis, pct, run, stages

from ledger import wakeups
from paygate.database import APP_ROLE

PGBENCH_SQL = (
    "INSERT INTO bench_raw (event_id, stream_id, type, data, metadata)"
    " VALUES (gen_random_uuid(), 'bench-' || :client_id, 'bench.event.v1', '{\"amount\": 50000}', '{}');\n"
)


def measure_r(db: str, seconds: int) -> float:
    """pgbench: single-row INSERT transactions per second at 32 connections (2 threads)."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(RAW_TABLE)
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text(PGBENCH_SQL)
    info = psycopg.conninfo.conninfo_to_dict(db)
    cmd = ["pgbench", "-n", "-c32", "-j2", f"-T{seconds}", "-f", str(script), "-h", str(info.get("host")),
           "-p", str(info.get("port", 5432)), "-U", str(info.get("user", "postgres")), str(info["dbname"])]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    script.unlink()
    line = next(ln for ln in out.splitlines() if ln.startswith("tps ="))
    return float(line.split()[2])


async def appends(db: str, seconds: float) -> tuple[float, float, float]:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await conn.execute(RAW_TABLE)
        await conn.execute(f"GRANT SELECT, INSERT ON bench_raw TO {APP_ROLE}")
    raw = await throughput(db, raw_insert, 32, seconds)
    # Each writer's appends send the coalesced wake-up, as the gateway's pooled connections do.
    async with AsyncConnectionPool(db, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        nudger = wakeups.Nudger(lambda: pool)
        attach = lambda c: wakeups.attach(c, nudger)  # noqa: E731
        app = await throughput(db, ledger_append(False, "32"), 32, seconds, prepare=attach)
        app_tx = await throughput(db, ledger_append(True, "32"), 32, seconds, prepare=attach)
    log(f"append: {nudger.sent} wake-ups sent")
    return raw, app, app_tx


@contextlib.contextmanager
def make_run(db: str, redis_url: str, logs: Path, **env: str) -> Iterator[tuple[str, psutil.Process]]:
    """`paygate run` (what `make run` starts), default settings but for the test-mode delay given in ``env``."""
    port = int(env.pop("PORT", 0)) or free_port()
    full = {**os.environ, "DATABASE_URL": db, "REDIS_URL": redis_url, "PORT": str(port), "TEST_MODE": "true"}
    for k in ("LOG_LEVEL", "API_WORKERS", "WORKER_IDLE_MS"):
        full.pop(k, None)  # the defaults, as a new user gets them
    full.update(env)  # what the caller sets on purpose
    with open(logs / "run.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "paygate", "run"], env=full, cwd=ROOT, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if httpx.get(f"{url}/health", timeout=2).json().get("status") == "healthy":
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError(f"paygate run not healthy in 90 s; see {logs}")
        yield url, psutil.Process(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def tree(root: psutil.Process) -> list[psutil.Process]:
    return [root, *root.children(recursive=True)]


def part_name(p: psutil.Process) -> str:
    args = p.cmdline()
    if "-m" in args and "paygate" in args:
        rest = args[args.index("paygate") + 1 :]
        return " ".join(rest[:1]) or "paygate"
    line = " ".join(args)
    if "multiprocessing.spawn" in line:
        return "api (process)"  # paygate.serving's, with API_WORKERS > 1
    if "multiprocessing.resource_tracker" in line:
        return "api (resource tracker)"
    return Path(args[0]).name if args else "?"


def cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def rss(procs: list[psutil.Process]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            name = part_name(p)
            while name in out:
                name += "'"
            out[name] = p.memory_info().rss / 2**20
    return out


def wrk(
    url: str, mode: str, ids: list[str], seconds: int, work: Path, snapshot: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """2 s warm-up, then ``seconds`` measured, wrk -t2 -c32; ``snapshot()`` (CPU used so far, say) is taken as
    the measured run starts and ends, into ``before`` and ``after``."""
    ids_file = work / f"{mode}.txt"
    ids_file.write_text("\n".join(ids or ["-"]) + "\n")
    base = ["wrk", "-t2", "-c32", "--timeout", "10s", "-s", str(ROOT / "bench" / "api.lua"), url]
    tail = ["--", mode, str(ids_file), KEY, SECRET]
    subprocess.run([*base[:1], "-d2s", *base[1:], *tail], capture_output=True, check=True, timeout=60)
    before = snapshot() if snapshot else None
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*base[:1], f"-d{seconds}s", *base[1:], *tail], capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout  # fmt: skip
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = snapshot() if snapshot else None
    figures = dict(json.loads(next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")).split(" ", 1)[1]))
    figures["before"], figures["after"] = before, after
    figures["wrk_cpu_s"] = now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime  # the client's own CPU
    figures["rps"] = figures["requests"] / figures["duration_s"]
    return figures


async def some_orders(url: str, n: int) -> list[str]:
    client = Client(url, 20)
    try:
        return await orders(client, n)
    finally:
        await client.close()


def api_figures(admin: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with fresh_database(admin, "api") as db, own_redis(work) as rd:
        with make_run(db, rd, work, TEST_PROCESSING_DELAY="600000") as (url, root):
            procs = tree(root)
            time.sleep(5)  # start-up work (schema check, seeding, first polls) is not idling
            log(f"idle: {args.idle:.0f} s of CPU of {len(procs)} processes")
            before = cpu_s(procs)
            time.sleep(args.idle)
            idle = (cpu_s(procs) - before) / args.idle
            made = asyncio.run(some_orders(url, 200))
            out: dict[str, Any] = {"idle_core": idle}
            procs = tree(root)
            log("wrk: POST /api/v1/payments over 200 orders")
            out["pay"] = pay = wrk(url, "pay", made, args.seconds, work, lambda: cpu_s(procs))
            pay["cpu_ms"] = (pay["after"] - pay["before"]) * 1000 / max(1, pay["requests"])
            with psycopg.connect(db) as conn:
                ids = [r[0] for r in conn.execute("SELECT id FROM payments ORDER BY random() LIMIT 5000")]
            log("wrk: GET /api/v1/payments/{id}")
            out["get"] = wrk(url, "get", ids, args.seconds, work)
            log("wrk: POST /api/v1/orders")
            out["order"] = wrk(url, "order", [], args.seconds, work)
            out["rss"] = rss(tree(root))
            return out


def wal_bytes(db: str) -> int:
    """Where PostgreSQL's write-ahead log stands, in bytes: the server's, so nothing else may write meanwhile."""
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'").fetchone()
    return int(row[0]) if row else 0


def e2e_figures(admin: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import instructions

    with fresh_database(admin, "e2e") as db, own_redis(work) as rd:
        gateway = Gateway(db, rd, work, LOG_LEVEL="INFO", WEBHOOK_REDRIVE_S="600")
        try:
            gateway.start()
            procs = [c for p in gateway.procs.values() for c in tree(psutil.Process(p.pid))]  # the API's processes too
            wal0 = wal_bytes(db)
            c0 = cpu_s(procs)
            opts = argparse.Namespace(payments=200, clients=20, burst=2000, connections=100)
            Receiver.arrivals.clear()
            r = asyncio.run(run(gateway.url, opts))
            cpu = cpu_s(procs) - c0
            wal = wal_bytes(db) - wal0
            st = stages(db, r.pop("burst_ids"), r.pop("burst_began_wall"))
            decided = sorted(st["decided"])
            with psycopg.connect(db) as conn:
                row = conn.execute("SELECT count(*) FROM events").fetchone()
                events = int(row[0]) if row else 0
            paid = 20 + 200 + 2000
            figures = {
                "steady_p99": pct(r["steady"], 99) * 1000,
                "steady_p50": pct(r["steady"], 50) * 1000,
                "burst_p50": pct(r["burst"], 50) * 1000,
                "burst_p99": pct(r["burst"], 99) * 1000,
                "decisions": (len(decided) - 1) / (decided[-1] - decided[0]) if len(decided) > 1 else 0.0,
                "webhooks": r["burst_rate"],
                "events_per_payment": events / paid,
                "cpu_ms_per_payment": cpu * 1000 / paid,
                "wal_kib_per_payment": wal / 1024 / paid,
                "rss": {name: psutil.Process(p.pid).memory_info().rss / 2**20 for name, p in gateway.procs.items()},
            }
        finally:
            gateway.stop()
        if args.instr and instructions.available():
            log("instructions per event of the followers (projector, dispatcher), under callgrind, over this log")
            figures["followers"] = instructions.count_followers(db, instructions.FOLLOWER_BATCH, FOLLOWER_EVENTS)
            figures["followers"]["dispatcher"] = instructions.count_dispatcher(
                db, rd, instructions.FOLLOWER_BATCH, FOLLOWER_EVENTS
            )
        return figures


#: Events of the end-to-end log (its first, the steady run's) that the followers' instructions are counted over.
FOLLOWER_EVENTS = 6000


#: Payments the worker's instructions are counted over (the first hundred, and their deliveries, unmeasured).
WORKER_PAYMENTS = 300
#: Hot-route requests in flight together for the crowded count: wrk's connections, against the API pool's 10.
AT_ONCE = 32


def worker_figures(admin: str, n: int) -> dict[str, float] | None:
    """The worker's instructions per payment decided and per webhook delivered, over ``n`` payments
    (bench/instructions.py), or None without valgrind and gcc."""
    import instructions

    return instructions.count_worker(admin, n) if n and instructions.available() else None


def instruction_figures(admin: str, n: int, work: Path) -> dict[str, float] | None:
    """The hot routes' instructions per request (bench/instructions.py): the app's in process, then the whole API
    process's, served by uvicorn on one kept-alive connection (``, served``); and the app's again with ``AT_ONCE``
    requests in flight, as wrk keeps them, more than the API's pool has connections (``, 32 at once``); None
    without valgrind and gcc."""
    import instructions

    if not n or not instructions.available():
        return None
    with fresh_database(admin, "instr") as db, own_redis(work) as rd:
        figures = instructions.count(db, rd, n)
    with fresh_database(admin, "instr") as db, own_redis(work) as rd:
        crowded = instructions.count(db, rd, n, AT_ONCE)
    with fresh_database(admin, "sinstr") as db, own_redis(work) as rd:
        served = instructions.count_server(db, rd, n)
    return (
        figures
        | {f"{route}, {AT_ONCE} at once": figure for route, figure in crowded.items()}
        | {f"{route}, served": figure for route, figure in served.items()}
    )


def report(
    env: dict[str, Any],
    r: float,
    store: tuple[float, float, float],
    api: dict[str, Any],
    e2e: dict[str, Any],
    instr: dict[str, float] | None,
    worker: dict[str, float] | None = None,
) -> None:
    raw, app, app_tx = store
    rows: list[tuple[str, str, str, str]] = []  # figure, value, goal, ratio (value / goal; >= 1 meets)

    def more(name: str, value: float, goal: float, unit: str, goal_text: str) -> None:
        rows.append((name, f"{value:,.1f} {unit}", goal_text, f"{value / goal:.2f}"))

    def less(name: str, value: float, goal: float, unit: str) -> None:
        rows.append((name, f"{value:,.1f} {unit}", f"<= {goal:g} {unit}", f"{goal / value:.2f}" if value else "inf"))

    for key, name, goal_r in (("pay", "POST /api/v1/payments", 0.15), ("get", "GET /api/v1/payments/{id}", 0.36),
                              ("order", "POST /api/v1/orders", 0.23)):  # fmt: skip
        f = api[key]
        goal = f">= {goal_r} R ({goal_r * r:,.0f})"
        more(f"{name} req/s", f["rps"], goal_r * r, f"req/s ({f['rps'] / r:.3f} R)", goal)
        less(f"{name} p99", f["p99_ms"], 40, "ms")
        if f["non2xx"] or f["errors"]:
            rows.append((f"{name} failures", f"{f['non2xx']} non-2xx, {f['errors']} errors", "0", "-"))
    rows.append(("POST /api/v1/payments CPU per request", f"{api['pay']['cpu_ms']:.2f} ms", "(all processes)", "-"))
    for route, figure in (instr or {}).items():
        if route.endswith(", served"):
            where = "(API process, uvicorn and all)"
        elif route.endswith(" at once"):
            where = f"(API, in process, {AT_ONCE} in flight)"
        else:
            where = "(API, in process)"
        rows.append((f"{route} instructions per request", f"{figure:,.0f}", where, "-"))
    if instr is None:
        rows.append(("API instructions per request", "not measured", "(needs valgrind, gcc)", "-"))
    ratio = app / raw
    rows.append(("ledger.append / raw INSERT, 32 writers", f"{ratio:.0%} ({app:,.0f} vs {raw:,.0f}/s; {app / r:.2f} R)",
                 ">= 70%", f"{ratio / 0.7:.2f}"))  # fmt: skip
    rows.append(
        ("  the same inside BEGIN/COMMIT (as handlers run it)", f"{app_tx / raw:.0%} ({app_tx:,.0f}/s)", "-", "-")
    )
    less("e2e 200 payments / 20 clients p99", e2e["steady_p99"], 100, "ms")
    less("e2e burst of 2,000 p50", e2e["burst_p50"], 500, "ms")
    more("decisions/s (burst)", e2e["decisions"], 1000, f"/s ({e2e['decisions'] / r:.3f} R)", ">= 1,000/s")
    more("webhooks/s (burst)", e2e["webhooks"], 1000, f"/s ({e2e['webhooks'] / r:.3f} R)", ">= 1,000/s")
    rows.append(("events per payment (e2e)", f"{e2e['events_per_payment']:.1f}", "-", "-"))
    rows.append(("CPU per payment, all processes (e2e)", f"{e2e['cpu_ms_per_payment']:.1f} ms", "-", "-"))
    rows.append(("WAL per payment (e2e)", f"{e2e['wal_kib_per_payment']:.1f} KiB", "(PostgreSQL's writes)", "-"))
    for follower, figure in e2e.get("followers", {}).items():
        rows.append((f"{follower} instructions per event", f"{figure:,.0f}", "(e2e log, in process)", "-"))
    for what, figure in (worker or {}).items():
        rows.append((f"worker instructions {what}", f"{figure:,.0f}", "(in process)", "-"))
    less("idle CPU of `paygate run`, 60 s", api["idle_core"] * 100, 3, "% of a core")
    for label, table in (("make run", api["rss"]), ("e2e", e2e["rss"])):
        for part, mb in table.items():
            less(f"RSS {part} ({label})", mb, 120, "MB")
    print()
    print(f"paygate benchmark, {env['when']}; {env['cpus']} CPUs; load average before {env['load_before']},"
          f" after {env['load_after']}")  # fmt: skip
    print(f"R = {r:,.0f} single-row INSERT tx/s at 32 connections (pgbench -c32 -j2, 127.0.0.1:5432, this run)")
    print(f"command: {env['command']}")
    print()
    widths = [max(len(row[i]) for row in [("figure", "value", "goal", "ratio"), *rows]) for i in range(4)]
    for row in [("figure", "value", "goal", "ratio"), tuple("-" * w for w in widths), *rows]:
        print(f"| {row[0]:<{widths[0]}} | {row[1]:>{widths[1]}} | {row[2]:>{widths[2]}} | {row[3]:>{widths[3]}} |")
    print("\nratio: value over goal for rates, goal over value for times and sizes; >= 1 meets the goal")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--seconds", type=int, default=6, help="measured length of each wrk round (after 2 s warm-up)")
    p.add_argument("--idle", type=float, default=60, help="seconds of idle CPU measurement")
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--instr", type=int, default=300, help="requests of each hot route under callgrind (0: none)")
    args = p.parse_args()
    if not shutil.which("wrk") or not shutil.which("pgbench"):
        print("make bench needs wrk and pgbench (Debian: apt-get install wrk postgresql-client)", file=sys.stderr)
        return 2
    env = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "command": "python bench/table.py " + " ".join(sys.argv[1:]),
    }
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    work = Path(tempfile.mkdtemp(prefix="paygate-bench-"))
    try:
        with fresh_database(args.pg, "ledger") as db:
            r = measure_r(db, args.seconds)
            log(f"R = {r:,.0f} tx/s")
            raw, app, app_tx = asyncio.run(appends(db, args.seconds))
            log(f"raw INSERT {raw:,.0f}/s, ledger.append {app:,.0f}/s, in a transaction {app_tx:,.0f}/s")
        api = api_figures(args.pg, args, work)
        e2e = e2e_figures(args.pg, args, work) if not args.skip_e2e else None
        log("instructions per request of the hot routes, under callgrind")
        instr = instruction_figures(args.pg, args.instr, work)
        log("the worker's instructions per payment decided and per webhook delivered, under callgrind")
        worker = worker_figures(args.pg, WORKER_PAYMENTS if args.instr else 0)
    except BaseException:
        log(f"failed; the processes' logs are in {work}")
        raise
    env["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if e2e is None:
        e2e = {"steady_p99": 0, "steady_p50": 0, "burst_p50": 0, "burst_p99": 0, "decisions": 0, "webhooks": 0,
               "events_per_payment": 0, "cpu_ms_per_payment": 0, "wal_kib_per_payment": 0, "rss": {}}  # fmt: skip
    report(env, r, (raw, app, app_tx), api, e2e, instr, worker)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
