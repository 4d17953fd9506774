"""Benchmark of the auditor's tools: `audit replay` (events/s, target 50,000) in one process and in one per
core, the chainer, digests, verify.

Builds a realistic log in a fresh database: a few hundred payments through the real command handlers (orders,
UPI and card payments that succeed or fail, captures, partial refunds, processed refunds), then copies of that
history under new ids until the log holds ``--events`` events. Not a test: it asserts nothing.

    python bench/replay.py [--events 200000]
"""

import argparse
import asyncio
import io
import os
import re
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from core import fresh_database, log  # noqa: E402 -- after the path set-up
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

import commands  # noqa: E402
import projections  # noqa: E402
from audit import digest, export, verify  # noqa: E402
from commands import handle, merchant, order, payment, refund  # noqa: E402
from commands.errors import DomainError  # noqa: E402
from commands.usecases import create_payment, register_merchant, settle_payment  # noqa: E402
from ledger import chain, vault  # noqa: E402
from paygate.database import APP_ROLE  # noqa: E402
from projections import rebuild  # noqa: E402

AT = "2030-06-15T10:00:00.000000Z"
IDS = re.compile(r"\b(order|pay|rfnd)_([0-9A-Za-z]{14})")


async def base_history(url: str, payments: int) -> None:
    vault.install(secrets.token_bytes(32))  # registering a merchant seals its secrets
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"SET ROLE {APP_ROLE}")
        session = commands.Session(conn, projections.project_inline, {"actor": "bench"})
        merchant_id = str(uuid.uuid4())
        await register_merchant(
            session, merchant.RegisterMerchant(merchant_id, "Bench", "bench@x.test", "key_bench", "s", "whsec_b", AT)
        )
        for i in range(payments):
            order_id, payment_id = f"order_{uuid.uuid4().hex[:14]}", f"pay_{uuid.uuid4().hex[:14]}"
            amount = 1000 + i
            await handle(
                session, order, order.stream_id(order_id), order.CreateOrder(order_id, merchant_id, amount, "INR", AT)
            )
            snap = payment.OrderSnapshot(order_id, amount, "INR", paid=False)
            await create_payment(
                session,
                payment.CreatePayment(payment_id, merchant_id, snap, "upi", AT, 2030, 6, vpa="a@b"),
            )
            await settle_payment(session, payment_id, payment.DecidePayment(AT, None if i % 5 else "declined"))
            stream = payment.stream_id(payment_id)
            try:
                await handle(session, payment, stream, payment.CapturePayment(merchant_id, amount, AT))
                refund_id = f"rfnd_{uuid.uuid4().hex[:14]}"
                await handle(
                    session, payment, stream, refund.RequestRefund(refund_id, payment_id, merchant_id, 100, None, AT)
                )
                await handle(session, payment, stream, refund.ProcessRefund(refund_id, AT))
            except DomainError:
                pass  # a declined payment: nothing to capture or refund


def renamed(text: str, k: int) -> str:
    """``text`` with every object id made that of copy ``k``."""
    return IDS.sub(lambda m: f"{m[1]}_{m[2][:8]}{k:06d}", text)


async def copies(url: str, events: int) -> int:
    """Copy the non-merchant history under new object ids (COPY, so building the log takes seconds)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            """SELECT stream_id, stream_version, type, data::text, metadata::text FROM events
               WHERE type NOT LIKE 'merchant.%%' ORDER BY tx_id, position"""
        )
        base = await cur.fetchall()
        total = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]  # type: ignore[index]
        k = 0
        while total < events:
            k += 1
            async with conn.cursor().copy(
                "COPY events (event_id, stream_id, stream_version, type, data, metadata) FROM STDIN"
            ) as copy:
                for stream, version, type_, data, meta in base:
                    await copy.write_row((uuid.uuid4(), renamed(stream, k), version, type_, renamed(data, k), meta))
            total += len(base)
            await conn.execute(
                "INSERT INTO streams (stream_id, version) SELECT stream_id, max(stream_version) FROM events "
                "GROUP BY stream_id ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version"
            )
        return int(total)


async def measure(url: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started, chained = time.perf_counter(), 0
        while n := await chain.chain_batch(conn):
            chained += n
        figures["chainer"] = chained / (time.perf_counter() - started)
        log(f"chainer: {chained:,} events in {time.perf_counter() - started:.1f} s ({figures['chainer']:,.0f}/s)")
        key = Ed25519PrivateKey.generate()
        started = time.perf_counter()
        signed = await digest.make(conn, key)
        figures["digest_s"] = time.perf_counter() - started
        log(f"digest (Merkle root of {signed['tree_size']:,} leaves, signed): {figures['digest_s']:.2f} s")
        started = time.perf_counter()
        assert await verify.verify(conn, signed) is None
        figures["verify"] = chained / (time.perf_counter() - started)
        log(f"verify: {figures['verify']:,.0f} events/s")
        out = io.StringIO()
        started = time.perf_counter()
        await export.write(conn, out, signed, None)
        exported = time.perf_counter() - started
        started = time.perf_counter()
        export.verify(io.StringIO(out.getvalue()))
        offline = chained / (time.perf_counter() - started)
        log(f"export: {chained / exported:,.0f} events/s; offline verify {offline:,.0f} events/s")
        for parts in sorted({1, os.cpu_count() or 1}):
            for run in range(2):
                started = time.perf_counter()
                replayed = (await rebuild.replay(conn, url=url, parts=parts)).events
                seconds = time.perf_counter() - started
                figures[f"replay_{parts}"] = replayed / seconds
                log(
                    f"replay in {parts} part(s), run {run + 1}: {replayed:,} events in {seconds:.2f} s "
                    f"({replayed / seconds:,.0f} events/s)"
                )
        started = time.perf_counter()
        reports = await rebuild.compare(conn)
        # The copies were never projected live, so the tables differ here: only the time is of interest.
        log(f"compare ({len(reports)} tables, row by row): {time.perf_counter() - started:.1f} s")
    return figures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--payments", type=int, default=300, help="payments of the base history, through the handlers")
    args = p.parse_args()
    with fresh_database(args.pg, "replay") as db:
        started = time.perf_counter()
        asyncio.run(base_history(db, args.payments))
        total = asyncio.run(copies(db, args.events))
        log(f"log: {total:,} events built in {time.perf_counter() - started:.0f} s; load {os.getloadavg()[0]:.2f}")
        asyncio.run(measure(db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
