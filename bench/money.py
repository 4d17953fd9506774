"""Benchmark of the money features: refund creation and idempotent replay throughput (req/s, p50, p99), plus
order creation with and without a fresh Idempotency-Key to show what a key costs. Prints a table.

Runs against the machine's PostgreSQL on 127.0.0.1 (a fresh database, dropped afterwards) and a Redis server
of its own, starts every part of the gateway in test mode (no processing delay, payments succeed), so refunds
are processed by the worker while they are being created. Load comes from wrk (bench/money.lua). Not a test:
it asserts only that the system kept its promises (one payment per key, identical replays, no over-refund).

    python bench/money.py [--seconds 8] [--connections 32] [--payments 200]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from core import AUTH, KEY, SECRET, fresh_database, log, system  # noqa: E402 -- the shared bench harness
from webhooks import own_redis  # noqa: E402

UPI = {"method": "upi", "vpa": "bench@okbank"}
#: Each bench payment can take this many 100-paise refunds before it is fully refunded.
PAYMENT_AMOUNT = 1_000_000


def wrk(url: str, mode: str, ids: list[str], conns: int, seconds: float, work: Path, key: str = "") -> dict[str, Any]:
    ids_file = work / f"{mode}-ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(BENCH / "money.lua"), url]
    out = subprocess.run(
        [*cmd, "--", mode, str(ids_file), KEY, SECRET, key],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    figures: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    figures["rps"] = figures["requests"] / figures["duration_s"]
    return figures


async def paid_payments(url: str, n: int, conns: int = 16) -> list[str]:
    """``n`` payments of ``PAYMENT_AMOUNT`` through the API, waited for until every one succeeded."""
    ids: list[str] = []
    todo = iter(range(n))
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:

        async def worker() -> None:
            for _ in todo:
                o = (await client.post("/api/v1/orders", json={"amount": PAYMENT_AMOUNT})).json()
                p = await client.post("/api/v1/payments", json={"order_id": o["id"], **UPI})
                p.raise_for_status()
                ids.append(p.json()["id"])

        await asyncio.gather(*(worker() for _ in range(conns)))
        deadline = time.monotonic() + 120
        for payment_id in ids:
            while (await client.get(f"/api/v1/payments/{payment_id}")).json()["status"] == "pending":
                if time.monotonic() > deadline:
                    raise RuntimeError("bench payments were not decided in 120 s")
                await asyncio.sleep(0.05)
    return ids


def over_refunded(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            """SELECT count(*) FROM (SELECT p.id FROM payments p JOIN refunds r ON r.payment_id = p.id
               GROUP BY p.id, p.amount HAVING sum(r.amount) > p.amount) o"""
        ).fetchone()
    return int(row[0]) if row else -1


def run(admin: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with fresh_database(admin, "money") as db, own_redis(work) as rd, system(db, rd, work) as s:
        for part in ("api", "worker", "dispatcher", "projector"):
            s.start(part)
        s.wait_api()
        ids = asyncio.run(paid_payments(s.url, args.payments))
        log(f"{len(ids)} paid payments; refunds over all of them for {args.seconds:.0f}s")
        results["refunds"] = wrk(s.url, "refund", ids, args.connections, args.seconds, work)
        log(f"refunds: {results['refunds']['rps']:,.0f} req/s; all on one payment for {args.seconds:.0f}s")
        results["refunds_one_payment"] = wrk(s.url, "refund", ids[:1], args.connections, args.seconds, work)

        with httpx.Client(base_url=s.url, headers=AUTH, timeout=30) as client:
            order_id = client.post("/api/v1/orders", json={"amount": 50000}).json()["id"]
            key = f"bench-replay-{os.getpid()}"
            first = client.post(
                "/api/v1/payments", json={"order_id": order_id, **UPI}, headers={"Idempotency-Key": key}
            )
            first.raise_for_status()
            log(f"replaying one keyed POST /api/v1/payments for {args.seconds:.0f}s")
            results["replay"] = wrk(s.url, "replay", [order_id], args.connections, args.seconds, work, key)
            again = client.post(
                "/api/v1/payments", json={"order_id": order_id, **UPI}, headers={"Idempotency-Key": key}
            )
            payments_on_order = client.get(f"/api/v1/orders/{order_id}/payments").json()["count"]
        results["replay_identical"] = again.content == first.content and payments_on_order == 1

        log(f"orders without a key, then with a fresh key each, {args.seconds:.0f}s each")
        results["orders"] = wrk(s.url, "order", [], args.connections, args.seconds, work)
        results["orders_keyed"] = wrk(s.url, "order-keyed", [], args.connections, args.seconds, work)
        results["over_refunded_payments"] = over_refunded(db)
    return results


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    rows = [
        ("POST /payments/{id}/refunds, spread over payments", r["refunds"]),
        ("POST /payments/{id}/refunds, all on one payment", r["refunds_one_payment"]),
        ("POST /payments, replay of one Idempotency-Key", r["replay"]),
        ("POST /orders, no Idempotency-Key", r["orders"]),
        ("POST /orders, a new Idempotency-Key each", r["orders_keyed"]),
    ]
    print(
        f"\npaygate money benchmark: {args.connections} connections, {args.seconds:.0f} s per row, wrk, 1 API process"
    )
    print(f"{'request':<52} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, f in rows:
        print(f"{name:<52} {f['rps']:>8,.0f} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {f['non2xx'] + f['errors']:>8}")
    print(f"replays identical to the first answer, one payment created: {r['replay_identical']}")
    print(f"payments refunded beyond their amount: {r['over_refunded_payments']}")
    print(f"load average before / after: {r['load_average'][0]} / {r['load_average'][1]} ({os.cpu_count()} CPUs)")
    print("BENCH_JSON " + json.dumps(r))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--seconds", type=float, default=8, help="length of each measured run")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections of wrk")
    p.add_argument("--payments", type=int, default=200, help="paid payments the refunds are spread over")
    args = p.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="paygate-bench-money-") as tmp:
        results = run(args.pg, args, Path(tmp))
    results["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    report(args, results)
    return 0 if results["replay_identical"] and results["over_refunded_payments"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
