"""The small measurements behind the README's "before and after of each lever", against `paygate run` in test
mode with a 600 s processing delay (fresh database, Redis at --redis). Not a test; prints figures.

    python bench/levers.py cpu [PART] [pay|get|order ...] [SETTING=VALUE ...]
                                                      wrk 6 s on each route named (default pay: POST
                                                      /payments): req/s, p99, CPU ms per request of each
                                                      process and of the machine's PostgreSQL and Redis;
                                                      py-spy of PART (default api; raw; none: no profile)
                                                      during the first, to a temp dir it names
    python bench/levers.py idle [SECONDS]             idle CPU of each process, and the CPU the machine takes
                                                      for one bare wake-up from a sleep
    python bench/levers.py workers N [pay|order ...]  R, then wrk rounds with API_WORKERS=N
    python bench/levers.py command [N]                in process, one connection, no HTTP: CPU (the process's
                                                      and its PostgreSQL backend's) and wall time per command
                                                      of N orders created, then N payments on them
    python bench/levers.py store [N]                  make bench's event-store rows alone, N times (default 3):
                                                      raw INSERT and ledger.append at 32 writers, and the ratio
    python bench/levers.py encode DATABASE_URL        the chain's canonical encoding (audit.spec.canonical)
                                                      against its reference (json, strftime) over the latest
                                                      5,000 events of that database's log: CPU per event
    python bench/levers.py parse DATABASE_URL         jsonb documents read and webhook bodies written, each
                                                      against what it replaced or must equal, over that
                                                      database's log: CPU per document
    python bench/levers.py arrays DATABASE_URL        a batch append's column arrays as psycopg dumps them
                                                      and as ledger.arrays writes them, batches of 1 to 40
                                                      of that database's latest events: CPU per statement
    python bench/levers.py log [N]                    in process: CPU per access line (api.logging.access_line),
                                                      to a file, 20 lines per event-loop turn
    python bench/levers.py asgi [N]                   in process, no server: CPU per request of the app called
                                                      with ASGI messages, hot routes on and off (api.hotpath),
                                                      N each of POST /orders, POST /payments, GET /payments/{id}
    python bench/levers.py instr [N] [AT_ONCE]        the same three routes (hot routes on) under callgrind:
                                                      instructions per request of the app's process, nearly the
                                                      same from run to run (bench/instructions.py); AT_ONCE
                                                      requests in flight together (default 1)
    python bench/levers.py sinstr [N]                 the same three routes, through uvicorn on one kept-alive
                                                      connection, under callgrind: instructions per request of
                                                      the API's whole process, server and event loop included
    python bench/levers.py served [N]                 the same, live, one request at a time (default 3,000 of
                                                      each): user and system CPU per request of the API's
                                                      process, three rounds
    python bench/levers.py finstr [N | DATABASE_URL]  the projector's two followers (projection runner, chainer)
                                                      under callgrind: instructions per event of each, over
                                                      the log a burst of N end-to-end payments made (300), or
                                                      that database's (its async read models and chain made
                                                      again)
    python bench/levers.py winstr [N]                 the worker's jobs under callgrind: instructions per payment
                                                      decided and per webhook delivered, N payments (300) made
                                                      and their first deliveries scheduled with no worker
                                                      running, then decided and delivered in messages of 100
    python bench/levers.py dinstr DATABASE_URL        the dispatcher under callgrind: instructions per event over
                                                      that database's log, followed again from its start (every
                                                      delivery it schedules is found scheduled already)
    python bench/levers.py wal [N]                    what PostgreSQL wrote to its write-ahead log for N
                                                      end-to-end payments (500), by table and index and by
                                                      record type (pg_waldump; needs read access to pg_wal)
    python bench/levers.py statements [N]             PostgreSQL's planning and execution time a payment of the
                                                      costliest statements while N end-to-end payments (1000)
                                                      go through, from pg_stat_statements, on a server of its
                                                      own that it starts (initdb) and removes
    python bench/levers.py steady                     200 payments from 20 clients, each until its webhook (the
                                                      e2e gateway): p50/p90/p99 of the whole and of each stage
    python bench/levers.py e2e [PART] [N]             the e2e gateway (delay 0, a webhook URL for every event):
                                                      a burst of N payments (default 1000), each until its
                                                      payment.success arrives: rate, p50, CPU ms per payment
                                                      of each process (PostgreSQL's by client), WAL bytes and
                                                      events per payment (by type), backends
                                                      holding a transaction id by process; py-spy of PART
                                                      (default worker; raw; none: no profile) to a temp dir
                                                      it names
"""

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core
import table

PG = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: The Redis database the meters use, flushed before each.
SCRATCH_REDIS = "redis://127.0.0.1:6379/15"


async def commands_alone(db: str, n: int) -> None:
    """The command handler alone, as the API calls it for POST /orders and POST /payments."""
    import psutil

    import commands
    import projections
    from api.ids import new_id, now, stamp
    from commands import order, payment
    from commands.usecases import create_payment, load_order
    from paygate.database import APP_ROLE, apply_schema

    await apply_schema(db)
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await conn.execute(f"SET ROLE {APP_ROLE}")
        session = commands.Session(conn, projections.project_inline, {"request_id": "bench"})
        merchant = str(uuid.uuid4())

        async def make_order() -> str:
            command = order.CreateOrder(new_id("order_"), merchant, 50_000, "INR", stamp(now()))
            await commands.handle(session, order, order.stream_id(command.order_id), command, new_stream=True)
            return command.order_id

        async def pay(order_id: str) -> None:
            o = await load_order(session, order_id, merchant)
            at = now()
            snapshot = payment.OrderSnapshot(o.order_id, o.amount, o.currency, o.paid)
            command = payment.CreatePayment(
                new_id("pay_"), merchant, snapshot, "upi", stamp(at), at.year, at.month, vpa="bench@okbank"
            )
            await create_payment(session, command)

        backend = psutil.Process((await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or (0,))[0])
        for _ in range(200):  # warm-up: statement caches, prepared statements
            await pay(await make_order())
        for name, step in (("create an order", None), ("create a payment (order loaded first)", "pay")):
            made = [await make_order() for _ in range(n)] if step else []
            cpu, wall, server = time.process_time(), time.perf_counter(), sum(backend.cpu_times()[:2])
            for i in range(n):
                await (pay(made[i]) if step else make_order())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            server = sum(backend.cpu_times()[:2]) - server
            print(
                f"{name}: {cpu * 1e6 / n:.0f} us CPU, {server * 1e6 / n:.0f} us of its PostgreSQL backend's, "
                f"{wall * 1e6 / n:.0f} us wall per command (n={n})"
            )


async def asgi_alone(db: str, rd: str, n: int, counter: Any = None, at_once: int = 1) -> None:
    """The app as uvicorn calls it, minus the server: where its CPU per request goes is the app's own. With a
    ``counter`` (an ``instructions.Meter``, under callgrind), hot routes only, each route's instructions counted.
    ``at_once``: requests sent together, in waves (wrk's 32 connections keep more requests in flight than the
    API's pool has connections; one at a time, none ever waits for one)."""
    import base64
    from functools import partial

    import orjson

    from api.limits import replay
    from api.logging import configure
    from api.main import create_app
    from paygate.database import make_pool
    from paygate.settings import Settings

    settings = Settings(database_url=db, redis_url=rd, test_mode=True, _env_file=None)  # type: ignore[call-arg]
    configure(settings.log_level)
    auth = b"Basic " + base64.b64encode(f"{settings.test_api_key}:{settings.test_api_secret}".encode())

    async def call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = [(b"host", b"bench"), (b"authorization", auth), (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 5000), "server": ("bench", 80)}  # fmt: skip
        sent: list[Any] = []

        async def no_disconnect() -> Any:
            await asyncio.Event().wait()

        async def send(message: Any) -> None:
            sent.append(message)

        await app(scope, replay(body, no_disconnect), send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    async def order(app: Any) -> str:
        status, body = await call(app, "POST", "/api/v1/orders", b'{"amount": 50000, "currency": "INR"}')
        assert status == 201, body
        return str(orjson.loads(body)["id"])

    async def pay(app: Any, order_id: str) -> str:
        body = orjson.dumps({"order_id": order_id, "method": "upi", "vpa": "bench@okbank"})
        status, answer = await call(app, "POST", "/api/v1/payments", body)
        assert status == 201, answer
        return str(orjson.loads(answer)["id"])

    async def read(app: Any, payment_id: str) -> None:
        status, body = await call(app, "GET", f"/api/v1/payments/{payment_id}")
        assert status == 200, body

    async def measure(app: Any) -> list[str]:
        for _ in range(100):  # warm-up
            await read(app, await pay(app, await order(app)))
        orders = [await order(app) for _ in range(n)]
        pays = [await pay(app, o) for o in [await order(app) for _ in range(n)]]
        steps = {
            "POST /orders": lambda i: order(app),
            "POST /payments": lambda i: pay(app, orders[i]),
            "GET /payments/{id}": lambda i: read(app, pays[i]),
        }
        figures = []
        for name, step in steps.items():
            if counter is not None:
                counter.start()
            cpu = time.process_time()
            for wave in range(0, n, at_once):
                if at_once == 1:
                    await step(wave)  # as ever: no task around it, so counts compare with earlier ones
                else:
                    await asyncio.gather(*(step(i) for i in range(wave, min(n, wave + at_once))))
            if counter is not None:
                counter.stop(name)
            figures.append(f"{name} {(time.process_time() - cpu) * 1e6 / n:,.0f} us")
        return figures

    for hot in (True,) if counter else (False, True, False, True):
        app = create_app(settings, rd, partial(make_pool, settings, db, lean=True), hot_routes=hot)
        async with app.router.lifespan_context(app):
            figures = await measure(app)
        print(f"hot routes {'on ' if hot else 'off'}: " + ", ".join(figures) + f" CPU per request (n={n})")


@contextlib.contextmanager
def scratch_store() -> Iterator[tuple[str, str]]:
    """A fresh database and the scratch Redis database, flushed: what each of the API's meters runs against."""
    redis.Redis.from_url(SCRATCH_REDIS).flushdb()
    with core.fresh_database(PG, "levers") as db:
        yield db, SCRATCH_REDIS


def instr(args: list[str]) -> None:
    """``instr``: the hot routes' instructions per request (bench/instructions.py); ``--child``: the measured
    process itself, run by callgrind."""
    if args[:1] == ["--child"]:
        import uvloop  # the API's loop (paygate.processes.api), whose own instructions count too
        from instructions import Meter

        db, rd, library, n = args[1], args[2], args[3], int(args[4])
        uvloop.run(asgi_alone(db, rd, n, Meter(library), int(args[5]) if len(args) > 5 else 1))
        return
    import instructions

    n = int(args[0]) if args else 500
    at_once = int(args[1]) if len(args) > 1 else 1
    with scratch_store() as (db, rd):
        for name, figure in instructions.count(db, rd, n, at_once).items():
            print(f"{name}: {figure:,.0f} instructions per request (n={n}, {at_once} at once)")


def sinstr(args: list[str]) -> None:
    """``sinstr [N]``: the hot routes' instructions per request of the API's whole process, server included
    (bench/instructions.py ``count_server``); ``--child``: that process itself, run by callgrind."""
    if args[:1] == ["--child"]:
        serve_counted(args[1], args[2], args[3], int(args[4]), int(args[5]))
        return
    import instructions

    n = int(args[0]) if args else 300
    with scratch_store() as (db, rd):
        for name, figure in instructions.count_server(db, rd, n).items():
            print(f"{name}: {figure:,.0f} instructions per request, server included (n={n})")


def served(args: list[str]) -> None:
    """``served [N]``: the API as ``sinstr`` serves it, live, one request at a time: user and system CPU per
    request of its process, three rounds (bench/instructions.py ``serve_cpu``)."""
    import instructions

    n = int(args[0]) if args else 3000
    for _ in range(3):
        with scratch_store() as (db, rd):
            figures = instructions.serve_cpu(db, rd, n)
        print(", ".join(f"{name} {user * 1e6:.0f} + {system * 1e6:.0f} us" for name, (user, system) in figures.items())
              + f" of user + system CPU per request (n={n})")  # fmt: skip


def serve_counted(db: str, rd: str, library: str, port: int, said: int) -> None:
    """The API as ``paygate api`` serves it (uvicorn, uvloop, the bounded protocol, the app's lifespan), its
    instructions counted between a ``start`` and a ``stop`` line on stdin; each step is acknowledged on the file
    descriptor ``said``."""
    from functools import partial

    from instructions import Meter

    from api.logging import configure
    from api.main import create_app
    from paygate import serving
    from paygate.database import make_pool
    from paygate.processes import API_SERVING
    from paygate.settings import Settings

    settings = Settings(database_url=db, redis_url=rd, test_mode=True, _env_file=None)  # type: ignore[call-arg]
    configure(settings.log_level)
    app = create_app(settings, rd, partial(make_pool, settings, db, lean=True))
    # Kept-alive connections wait out the meter's slow start (callgrind instruments everything anew): not 5 s.
    server = serving.Server(serving.config(app, host="127.0.0.1", port=port, timeout_keep_alive=600, **API_SERVING))

    def control() -> None:
        """Takes the lines; the meter itself is worked from the event loop's thread, as callgrind counts."""
        meter, loop = Meter(library), None
        while loop is None:
            time.sleep(0.1)
            loop = server.loop if server.started else None
        os.write(said, b"serving\n")

        def start() -> None:
            meter.start()
            os.write(said, b"counting\n")

        def stop(name: str) -> None:
            meter.stop(name)
            os.write(said, b"counted\n")

        for i, line in enumerate(iter(sys.stdin.readline, "")):
            if line == "start\n":
                loop.call_soon_threadsafe(start)
            else:
                loop.call_soon_threadsafe(stop, f"server {i // 2}")

    threading.Thread(target=control, daemon=True).start()
    server.run()


def finstr(args: list[str]) -> None:
    """``finstr [N]``: the projector process's two followers, the projection runner and the chainer, in
    instructions per event (bench/instructions.py), each over the log a burst of N end-to-end payments made
    (default 300). ``finstr DATABASE_URL``: over that database's log instead, the same log for each lever
    compared; its async read models and chain are emptied and made again. ``--child``: the measured process
    itself, run by callgrind."""
    if args[:1] == ["--child"]:
        import uvloop  # the projector's loop
        from instructions import Meter

        limit = int(args[4]) if len(args) > 4 else None
        uvloop.run(followers_alone(args[1], Meter(args[2]), int(args[3]), limit))
        return
    import instructions
    import webhooks

    if args and not args[0].isdigit():
        with psycopg.connect(args[0]) as conn:
            events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        print(f"{events:,} events (the log of that database), read in batches of {instructions.FOLLOWER_BATCH}:")
        for name, figure in instructions.count_followers(args[0], instructions.FOLLOWER_BATCH).items():
            print(f"  {name}: {figure:,.0f} instructions per event")
        return
    n = int(args[0]) if args else 300
    work = Path(tempfile.mkdtemp(prefix="paygate-levers-"))
    with core.fresh_database(PG, "levers") as db, webhooks.own_redis(work) as rd:
        gateway = webhooks.Gateway(db, rd, work, LOG_LEVEL="INFO", WEBHOOK_REDRIVE_S="600")
        try:
            gateway.start()
            asyncio.run(burst(gateway.url, db, n, {}))
            with psycopg.connect(db, autocommit=True) as conn:
                pending = "SELECT count(*) FROM webhook_logs WHERE status = 'pending'"
                while conn.execute(pending).fetchone()[0]:  # type: ignore[index]
                    time.sleep(0.1)  # every delivery's outcome recorded: the same log from run to run
        finally:
            gateway.stop()
        finstr([db])


async def followers_alone(db: str, meter: Any, batch: int, limit: int | None = None) -> None:
    """The projection runner's and the chainer's batches from the start of the log to its end (or past
    ``limit`` events), each measured after a few batches of warm-up; the derived state is emptied first. One
    connection of a pool as the projector makes them, no leader."""
    import projections
    from ledger import chain
    from paygate.database import make_pool
    from paygate.processes import freeze_startup_heap
    from paygate.settings import Settings
    from projections import registry, runner

    tables = [t for t, model in registry.TABLES.items() if model in projections.ASYNC]
    names = [model.NAME for model in projections.ASYNC] + [chain.NAME]
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as owner:
        await owner.execute(f"TRUNCATE {', '.join(tables)}, event_chain")
        await owner.execute("DELETE FROM checkpoints WHERE name = ANY(%s)", (names,))
    settings = Settings(database_url=db, _env_file=None)  # type: ignore[call-arg]
    async with make_pool(settings, db, max_size=1, name="projector") as pool, pool.connection() as conn:
        freeze_startup_heap()  # as the projector does before it starts
        models = len(projections.ASYNC)
        steps = {  # each returns the events it took (the runner counts each event once per model)
            "projector": lambda: runner.catch_up_all(conn, projections.ASYNC, batch),
            "chainer": lambda: chain.chain_batch(conn, None, batch),
        }
        for name, step in steps.items():
            share = models if name == "projector" else 1
            for _ in range(5):
                await step()
            events = 0
            meter.start()
            while (limit is None or events < limit) and (took := await step()):
                events += took // share
            meter.stop(f"{name} {events}")


def winstr(args: list[str]) -> None:
    """``winstr [N]``: the worker's two jobs in instructions per item (bench/instructions.py): deciding N
    payments (default 300), in messages of 100 as the dispatcher sends them, and delivering their
    ``payment.created`` and ``payment.pending`` webhooks, 100 a message, to a receiver in this process. The API,
    dispatcher and projector make the payments and schedule the deliveries first, with no worker running.
    ``--child``: the measured process itself, run by callgrind."""
    if args[:1] == ["--child"]:
        import uvloop  # the worker's loop
        from instructions import Meter

        uvloop.run(worker_alone(args[1], Meter(args[2])))
        return
    import instructions

    for name, figure in instructions.count_worker(PG, int(args[0]) if args else 300).items():
        print(f"worker instructions {name}: {figure:,.0f}")


async def worker_alone(db: str, meter: Any) -> None:
    """The worker's jobs, in process, as its event loop runs them: the payments pending decided, then the
    deliveries pending made, each 100 an item list, the first list of each unmeasured (warm-up). Each delivery
    list is done (its attempts recorded) before the next starts."""
    from functools import partial

    from api.logging import configure
    from paygate.database import make_pool
    from paygate.processes import freeze_startup_heap, install_vault
    from paygate.settings import Settings
    from workers import payments, webhooks
    from workers.runtime import Runtime

    settings = Settings(database_url=db, test_mode=True, _env_file=None)  # type: ignore[call-arg]
    configure(settings.log_level)
    install_vault(settings)
    runtime = Runtime(settings, partial(make_pool, settings, db, name="worker"))
    freeze_startup_heap()  # as the worker does before it starts
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        cur = await conn.execute("SELECT id, method FROM payments WHERE status = 'pending' ORDER BY id")
        owed = await cur.fetchall()
        deliveries = await (
            await conn.execute("SELECT id::text, version FROM webhook_logs WHERE status = 'pending' ORDER BY id")
        ).fetchall()
    lists = [[[p, m, None] for p, m in owed[i : i + 100]] for i in range(0, len(owed), 100)]
    await payments.process_payments(runtime, lists[0])
    meter.start()
    for items in lists[1:]:
        await payments.process_payments(runtime, items)
    meter.stop(f"per payment decided {sum(len(items) for items in lists[1:])}")
    courier = webhooks.courier(runtime)
    messages = [[(d, v) for d, v in deliveries[i : i + 100]] for i in range(0, len(deliveries), 100)]
    for k, message in enumerate(messages):
        if k == 1:
            meter.start()
        await webhooks.deliver_webhooks(runtime, message)
        while courier._tasks:
            await asyncio.gather(*courier._tasks)
    meter.stop(f"per webhook delivered {sum(len(message) for message in messages[1:])}")
    await courier.close()
    await runtime.close()
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*) FROM webhook_logs WHERE status = 'success'")
        delivered = (await cur.fetchone() or (0,))[0]
    if delivered < len(deliveries):  # a failed attempt (a server key that opens no secret, say) is not a delivery
        raise SystemExit(f"{delivered} of {len(deliveries)} deliveries made: the count is not of deliveries")


def dinstr(args: list[str]) -> None:
    """``dinstr DATABASE_URL``: the dispatcher's instructions per event (bench/instructions.py) over that
    database's log, which it follows again from the start in batches of 100 (``instructions.count_dispatcher``).
    ``--child``: the measured process itself, run by callgrind."""
    if args[:1] == ["--child"]:
        import uvloop  # the dispatcher's loop
        from instructions import Meter

        limit = int(args[5]) if len(args) > 5 else None
        uvloop.run(dispatcher_alone(args[1], args[2], Meter(args[3]), int(args[4]), limit))
        return
    import instructions

    redis.Redis.from_url(SCRATCH_REDIS).flushdb()
    figures = instructions.count_dispatcher(args[0], SCRATCH_REDIS, instructions.FOLLOWER_BATCH)
    print(f"dispatcher: {figures:,.0f} instructions per event")


async def dispatcher_alone(db: str, rd: str, meter: Any, batch: int, limit: int | None = None) -> None:
    """The dispatcher's batches from the start of the log to its end (or past ``limit`` events), measured after
    a few batches of warm-up, on a pool as the dispatcher makes it and its actors on a broker at ``rd``."""
    from functools import partial

    from api.logging import configure
    from paygate.database import make_pool
    from paygate.processes import freeze_startup_heap
    from paygate.settings import Settings
    from workers import dispatcher
    from workers.actors import declare
    from workers.broker import make_broker
    from workers.runtime import Runtime

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as owner:
        await owner.execute("DELETE FROM checkpoints WHERE name = %s", (dispatcher.NAME,))
    settings = Settings(database_url=db, test_mode=True, test_processing_delay=0, _env_file=None)  # type: ignore[call-arg]
    configure(settings.log_level)
    actors = declare(make_broker(rd), Runtime(settings, partial(make_pool, settings, db)))
    async with make_pool(settings, db, max_size=6, name="dispatcher") as pool:
        freeze_startup_heap()  # as the dispatcher does before it starts
        for _ in range(5):
            await dispatcher.dispatch_batch(pool, actors, settings, batch)
        events = 0
        meter.start()
        while (limit is None or events < limit) and (
            took := await dispatcher.dispatch_batch(pool, actors, settings, batch)
        ):
            events += took
        meter.stop(f"dispatcher {events}")


def store(times: int) -> None:
    """bench/table.py's event-store rows, by themselves: raw INSERT against ledger.append, 32 writers each."""
    import uvloop

    for _ in range(times):
        with core.fresh_database(PG, "ledger") as db:
            raw, app, app_tx = uvloop.run(table.appends(db, 6))
        print(
            f"raw INSERT {raw:,.0f}/s, ledger.append {app:,.0f}/s ({app / raw:.0%}), in a transaction {app_tx:,.0f}/s"
        )


def encode(url: str) -> None:
    """CPU per event of the chain's canonical bytes, as the chainer and the verifiers make them, against the
    definition they must equal (the standard library's json, the timestamp by strftime)."""
    from datetime import UTC

    from audit import spec

    with psycopg.connect(url) as conn:
        columns = "position, event_id, stream_id, stream_version, type, recorded_at, data, metadata"
        rows = conn.execute(f"SELECT {columns} FROM events ORDER BY position DESC LIMIT 5000").fetchall()
    docs = [dict(zip(columns.split(", "), r, strict=True)) for r in rows]

    def reference(d: dict[str, Any]) -> bytes:
        at = d["recorded_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return spec.reference_dumps({**d, "event_id": str(d["event_id"]), "recorded_at": at})

    assert all(spec.canonical(**d) == reference(d) for d in docs)
    for _ in range(2):
        for name, make in (("reference", reference), ("spec.canonical", lambda d: spec.canonical(**d))):
            started = time.process_time()
            for _ in range(5):
                for d in docs:
                    make(d)
            print(f"{name}: {(time.process_time() - started) * 1e6 / (5 * len(docs)):.1f} us CPU per event")
    print(f"({len(docs)} events, the same bytes from both)")


def parse(url: str) -> None:
    """CPU per document of what the followers do to every event and every webhook body, over that database's log:
    jsonb read (``ledger.jsontext.loads``, against the regex check it had before and orjson alone) and webhook
    bodies written (``jsjson.stringify``, against ``jsjson.reference``, the definition it must equal)."""
    import json
    import re

    import orjson

    from ledger import jsontext
    from projections import jsjson

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT data::text, metadata::text FROM events ORDER BY position DESC LIMIT 5000")
        texts = [t.encode() for row in rows.fetchall() for t in row]
        found = conn.execute("SELECT data->>'body' FROM events WHERE type = 'webhook.scheduled.v1' LIMIT 3000")
        bodies = [json.loads(b) for (b,) in found.fetchall()]
    long_number = re.compile(rb"[0-9]{19}")

    def regex_loads(text: bytes) -> Any:
        return json.loads(text) if long_number.search(text) else orjson.loads(text)

    assert all(jsontext.loads(t) == regex_loads(t) for t in texts)
    assert all(jsjson.stringify(b) == jsjson.reference(b) for b in bodies)
    cases = (
        (texts, "jsonb loads with the regex check", regex_loads),
        (texts, "jsontext.loads", jsontext.loads),
        (texts, "orjson.loads alone", orjson.loads),
        (bodies, "jsjson.reference", jsjson.reference),
        (bodies, "jsjson.stringify", jsjson.stringify),
    )
    for _ in range(2):
        for docs, name, run in cases:
            started = time.process_time()
            for doc in docs:
                run(doc)
            print(f"{name}: {(time.process_time() - started) * 1e6 / len(docs):.2f} us CPU per document")
    print(f"({len(texts)} jsonb documents, {len(bodies)} webhook bodies, the same values from each pair)")


def dump_arrays(url: str) -> None:
    """CPU per statement of turning a batch append's column arrays into what psycopg sends (a fresh transformer
    each time, as each cursor has one), psycopg's own list dumping against ``ledger.arrays``, over batches of
    1, 3, 10 and 40 of that database's latest events."""
    from psycopg.adapt import PyFormat, Transformer
    from psycopg.types.json import Jsonb

    from ledger import arrays, jsontext
    from ledger.store import _BATCH_TYPES

    jsontext.install()
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT event_id, stream_id, stream_version, type, data, metadata FROM events ORDER BY position DESC"
            " LIMIT 4000"
        )
        events = found.fetchall()
        formats = [PyFormat.BINARY] * len(_BATCH_TYPES)

        def columns(batch: list[Any]) -> list[Any]:
            heads = [(e[1], e[2] - 1, e[2]) for e in batch]
            return [*zip(*heads, strict=True), *zip(*batch, strict=True)]

        def lists(batch: list[Any]) -> None:
            cols = [list(c) for c in columns(batch)]
            cols[-2:] = [[Jsonb(v) for v in c] for c in cols[-2:]]
            Transformer(conn).dump_sequence(cols, formats)

        def encoded(batch: list[Any]) -> None:
            cols = [arrays.encode(t, c) for t, c in zip(_BATCH_TYPES, columns(batch), strict=True)]
            Transformer(conn).dump_sequence(cols, formats)

        for size in (1, 3, 10, 40):
            batches = [events[i : i + size] for i in range(0, len(events) - size + 1, size)]
            for _ in range(2):
                for name, run in (("psycopg lists", lists), ("ledger.arrays", encoded)):
                    started = time.process_time()
                    for _ in range(5):
                        for batch in batches:
                            run(batch)
                    cpu = (time.process_time() - started) / (5 * len(batches))
                    print(f"batches of {size:2}: {name}: {cpu * 1e6:.1f} us CPU per statement")
    print(f"({len(events)} events, the latest of the log)")


def log_lines(n: int) -> None:
    """The access line's own cost: N lines, as a busy API logs them (a few per loop turn), into a file."""
    import structlog

    from api.logging import access_line, configure

    configure("INFO")
    structlog.contextvars.bind_contextvars(request_id="0123456789abcdef", merchant_id=str(uuid.uuid4()))
    path = "/api/v1/payments/pay_QCnfmmyj6P81wrtq"
    scope = {"method": "GET", "path": path, "path_params": {"payment_id": path[-18:]}}

    async def main() -> float:
        started = time.process_time()
        for i in range(n):
            access_line(scope, 200, 0.32)
            if i % 20 == 19:
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        return time.process_time() - started

    with tempfile.TemporaryFile("w") as out:
        saved, sys.stdout = sys.stdout, out  # type: ignore[assignment]
        try:
            cpu = asyncio.run(main())
        finally:
            sys.stdout = saved
    print(f"access line: {cpu * 1e6 / n:.1f} us CPU per line (n={n})")


async def burst(url: str, db: str, n: int, procs: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
    """``n`` payments at once, each until its payment.success webhook arrives: (seconds, p50 seconds, what stood
    at the burst's start: CPU seconds of each process and of PostgreSQL's by client, ``busy`` seconds of the
    machine, the log's ``position``, the database's ``commits`` and the server's ``wal`` position in bytes)."""
    from webhooks import Client, Receiver, orders, pay, pct, print_stages, receiving, stages, warm_up

    server = await receiving(url)
    client = Client(url, 100)
    try:
        await warm_up(client)
        todo = await orders(client, n)
        with psycopg.connect(db) as conn:
            position = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]  # type: ignore[index]
            commits = conn.execute(XACTS).fetchone()[0]  # type: ignore[index]
        before = {name: table.cpu_s(table.tree(p)) for name, p in procs.items()} | {
            "postgres": postgres_cpu_s(),
            "by client": postgres_cpu_by_client(db, servers()["postgres (all)"]),
            "busy": machine_busy_s(),
            "position": position,
            "commits": commits,
            "wal": table.wal_bytes(db),
        }
        began, began_wall = time.perf_counter(), time.time()
        paid = await asyncio.gather(*(pay(client, order_id) for order_id in todo))
        arrived = [await Receiver.wait(payment_id, timeout=300) for payment_id, _ in paid]
    finally:
        await client.close()
        server.close()
    latencies = [at - started for at, (_, started) in zip(arrived, paid, strict=True)]
    print_stages(stages(db, [p for p, _ in paid], began_wall), indent="  ")
    return max(arrived) - began, pct(latencies, 50), before


#: Transactions the database has committed and rolled back: an autocommit statement is one.
XACTS = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"


def spy_command(pid: int, *more: str) -> list[str]:
    """py-spy on ``pid``, 200 samples a second, without pausing it; ``--gil`` so that a thread's wait for the GIL
    is not charged to the C call it returns from."""
    return ["py-spy", "record", "-p", str(pid), *more, "-r", "200", "-f", "raw", "--nonblocking", "--gil"]


def servers() -> dict[str, list[Any]]:
    """The machine's PostgreSQL and Redis processes, by name: their CPU is the gateway's too."""
    import psutil

    found: dict[str, list[Any]] = {"postgres (all)": [], "redis (all)": []}
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("postgres", "postmaster"):
            found["postgres (all)"].append(p)
        elif p.info["name"] == "redis-server":
            found["redis (all)"].append(p)
    return found


def postgres_cpu_s() -> float:
    """CPU seconds of the machine's PostgreSQL processes alive now (a backend that ended took its own along)."""
    return table.cpu_s(servers()["postgres (all)"])


def postgres_cpu_by_client(db: str, postgres: list[Any]) -> dict[str, float]:
    """CPU seconds of ``postgres``' processes by whom they serve: "postgres: NAME" for the database's backends by
    their application name (the pool's, paygate.database.make_pool), "postgres: server" for the rest (WAL
    writer, checkpointer, autovacuum, other databases' backends)."""
    with psycopg.connect(db, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    names = dict(rows)
    split: dict[str, float] = {}
    for p in postgres:
        key = f"postgres: {names.get(p.pid) or 'server'}"
        split[key] = split.get(key, 0.0) + table.cpu_s([p])
    return split


def machine_busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq)


def sample_waits(db: str, waits: dict[str, int], stop: threading.Event) -> None:
    """Counts of what the database's other backends are doing, every 20 ms until ``stop``; and, under
    "holding an id: NAME", of those whose open transaction has an id (each holds back every reader of the log,
    which reads only below the oldest one), by application name."""
    with psycopg.connect(db, autocommit=True) as conn:
        while not stop.wait(0.02):
            rows = conn.execute(
                "SELECT state, wait_event_type, wait_event, backend_xid IS NOT NULL, application_name"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state IS NOT NULL"
            ).fetchall()
            waits["samples"] = waits.get("samples", 0) + 1
            for state, kind, event, holding, name in rows:
                key = f"{state}/{kind or 'cpu'}:{event or '-'}" if state != "idle" else "idle"
                waits[key] = waits.get(key, 0) + 1
                if holding:
                    waits[f"holding an id: {name}"] = waits.get(f"holding an id: {name}", 0) + 1


def e2e(part: str, n: int) -> None:
    import psutil
    import webhooks

    work = Path(tempfile.mkdtemp(prefix="paygate-levers-"))
    with core.fresh_database(PG, "levers") as db, webhooks.own_redis(work) as rd:
        gateway = webhooks.Gateway(db, rd, work, LOG_LEVEL="INFO", WEBHOOK_REDRIVE_S="600")
        try:
            gateway.start()
            procs = {name: psutil.Process(p.pid) for name, p in gateway.procs.items()}
            spy, profile = None, work / f"{part}-profile.txt"
            if part in procs and shutil.which("py-spy"):
                cmd = spy_command(procs[part].pid)
                spy = subprocess.Popen([*cmd, "-o", str(profile)], stdout=subprocess.DEVNULL)
            waits: dict[str, int] = {}
            sampling = threading.Event()
            threading.Thread(target=sample_waits, args=(db, waits, sampling), daemon=True).start()
            seconds, p50, before = asyncio.run(burst(gateway.url, db, n, procs))
            busy, start, commits = machine_busy_s() - before.pop("busy"), before.pop("position"), before.pop("commits")
            wal = table.wal_bytes(db) - before.pop("wal")
            after = {name: table.cpu_s(table.tree(p)) for name, p in procs.items()}  # the API's processes too
            postgres = postgres_cpu_s() - before.pop("postgres")
            split = postgres_cpu_by_client(db, servers()["postgres (all)"])
            split_before = before.pop("by client")
            sampling.set()
            if spy:
                spy.send_signal(2)
                spy.wait()
                print(f"py-spy profile of {part}: {profile}")
            with psycopg.connect(db) as conn:
                time.sleep(0.6)  # the statistics collector reports at most every 500 ms
                commits = conn.execute(XACTS).fetchone()[0] - commits  # type: ignore[index]
                counts = conn.execute(
                    "SELECT type, count(*) FROM events WHERE position > %s GROUP BY type ORDER BY 2 DESC", (start,)
                ).fetchall()
            print(f"burst of {n}: {n / seconds:.0f} payments/s end to end, p50 {p50 * 1000:.0f} ms")
            for name, cpu in after.items():
                print(f"  {name}: {(cpu - before[name]) * 1000 / n:.2f} ms CPU per payment")
            print(f"  all: {(sum(after.values()) - sum(before.values())) * 1000 / n:.2f} ms CPU per payment")
            print(f"  PostgreSQL (its processes alive at each end): {postgres * 1000 / n:.2f} ms CPU per payment: "
                  + ", ".join(f"{k[10:]} {(v - split_before.get(k, 0.0)) * 1000 / n:.2f}"
                              for k, v in sorted(split.items())))  # fmt: skip
            samples = max(1, waits.pop("samples", 1))
            holding = {k: v for k, v in waits.items() if k.startswith("holding")}
            busiest = sorted(waits.items() - holding.items(), key=lambda kv: -kv[1])[:8]
            print("  gateway backends, mean count by state/wait (every 20 ms): "
                  + ", ".join(f"{k} {v / samples:.1f}" for k, v in busiest))  # fmt: skip
            print("  backends with an open transaction id, mean count (every 20 ms): "
                  + ", ".join(f"{k[15:]} {v / samples:.2f}" for k, v in sorted(holding.items())))  # fmt: skip
            print(f"  machine: {busy / seconds:.2f} of {os.cpu_count()} cores busy during the burst")
            print(f"  database transactions (an autocommit statement is one) per payment: {commits / n:.1f}")
            print(f"  WAL written per payment (the whole server's): {wal / n / 1024:.1f} KiB")
            print(f"  events per payment: {sum(c for _, c in counts) / n:.1f}: "
                  + ", ".join(f"{t} {c / n:.2f}" for t, c in counts))  # fmt: skip
        finally:
            gateway.stop()


def _pg_binary(name: str, major: str | None = None) -> str:
    """A PostgreSQL program: on the PATH, else Debian's, of ``major`` or the newest installed."""
    import glob

    if found := shutil.which(name):
        return found
    if major is not None:
        return f"/usr/lib/postgresql/{major}/bin/{name}"
    installed = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    return installed[-1] if installed else name


def wal(n: int) -> None:
    """``wal [N]``: what PostgreSQL wrote to its write-ahead log for N end-to-end payments (default 500: their
    orders, the burst, every delivery recorded), read back by pg_waldump: bytes and records per payment by
    relation and by record type (full-page images left out: they depend on when the last checkpoint was), and
    the server's WAL flushes per payment. The whole server's log: nothing else may write meanwhile. Needs
    pg_waldump and read access to the server's pg_wal (the machine's own PostgreSQL, run as root)."""
    import collections
    import re

    import webhooks

    def stat(conn: Any, query: str) -> Any:
        return conn.execute(query).fetchone()[0]

    work = Path(tempfile.mkdtemp(prefix="paygate-levers-"))
    with core.fresh_database(PG, "levers") as db, webhooks.own_redis(work) as rd:
        with psycopg.connect(db, autocommit=True) as conn:
            folder = Path(stat(conn, "SHOW data_directory")) / "pg_wal"
            tool = _pg_binary("pg_waldump", stat(conn, "SHOW server_version_num")[:2])
            gateway = webhooks.Gateway(db, rd, work, LOG_LEVEL="INFO", WEBHOOK_REDRIVE_S="600")
            try:
                gateway.start()
                start, syncs = stat(conn, "SELECT pg_current_wal_lsn()"), stat(conn, "SELECT wal_sync FROM pg_stat_wal")
                asyncio.run(burst(gateway.url, db, n, {}))
                while stat(conn, "SELECT count(*) FROM webhook_logs WHERE status = 'pending'"):
                    time.sleep(0.1)  # every delivery's outcome recorded
                end = stat(conn, "SELECT pg_current_wal_lsn()")
            finally:
                gateway.stop()
            time.sleep(0.6)  # the statistics collector reports at most every 500 ms
            syncs = stat(conn, "SELECT wal_sync FROM pg_stat_wal") - syncs
            files = "SELECT pg_relation_filenode(oid)::text, relname FROM pg_class"
            names = dict(conn.execute(f"{files} WHERE pg_relation_filenode(oid) IS NOT NULL").fetchall())
            oid = stat(conn, "SELECT oid FROM pg_database WHERE datname = current_database()")
        # Now, while the log is there: dropping the database makes a checkpoint, which may recycle its segments.
        command = [tool, "-p", str(folder), "-s", str(start), "-e", str(end)]
        dump = subprocess.run(command, capture_output=True, text=True)
    if dump.returncode:
        raise SystemExit(f"pg_waldump failed: {dump.stderr.strip()}")
    record = re.compile(r"rmgr: (\S+)\s+len \(rec/tot\):\s+(\d+)/\s*\d+.*?desc: (\S+)")
    relation = re.compile(rf"rel \d+/{oid}/(\d+)")
    size: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    for line in dump.stdout.splitlines():
        if not (m := record.search(line)):
            continue
        found = relation.search(line)
        name = names.get(found.group(1), "(other)") if found else "(no relation)"
        size[name] += int(m.group(2))
        count[name] += 1
        kinds[f"{m.group(1)}/{m.group(3)}"] += int(m.group(2))
    print(f"{n} payments: {sum(size.values()) / n / 1024:.1f} KiB of WAL records per payment (full-page images "
          f"left out), {syncs / n:.2f} WAL flushes per payment")  # fmt: skip
    for name, b in size.most_common(20):
        print(f"  {name:40} {b / n:7,.0f} bytes  {count[name] / n:5.1f} records per payment")
    print("  by record type:", ", ".join(f"{k} {v / n:,.0f}" for k, v in kinds.most_common(8)))


def statements(n: int) -> None:
    """``statements [N]``: what PostgreSQL spent on each statement while N end-to-end payments went through (as
    ``e2e none N``, default 1000), from pg_stat_statements: per payment, the planning and execution time of the
    costliest statements, their calls and how many of those were planned. The extension is loaded only when a
    server starts, so this starts one of its own (initdb of the machine's major version in a temporary folder, as
    the user postgres when run as root, on port 5499) and removes it after."""
    binaries = Path(_pg_binary("initdb")).parent
    work = Path(tempfile.mkdtemp(prefix="paygate-statements-"))
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_owner:
        shutil.chown(work, "postgres")
    data, port = work / "data", 5499
    subprocess.run([*as_owner, binaries / "initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)  # fmt: skip
    settings = {
        "port": port,
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{work}'",
        "shared_preload_libraries": "'pg_stat_statements'",
        "pg_stat_statements.track_planning": "on",
    }
    with open(data / "postgresql.conf", "a") as conf:
        conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
    subprocess.run([*as_owner, binaries / "pg_ctl", "-D", data, "-l", work / "log", "-w", "start"], check=True,
                   capture_output=True)  # fmt: skip
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        env = {**os.environ, "BENCH_PG_ADMIN_URL": admin}
        subprocess.run([sys.executable, __file__, "e2e", "none", str(n)], env=env, check=True)
        with psycopg.connect(admin, autocommit=True) as conn:
            rows = conn.execute(
                """SELECT calls, plans, total_plan_time, total_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g')
                   FROM pg_stat_statements
                   WHERE query !~* '^\\s*(CREATE|DROP|ALTER|DO|COMMENT|GRANT|--)' AND query !~ 'pg_stat_'
                   ORDER BY total_plan_time + total_exec_time DESC"""
            ).fetchall()
    finally:
        subprocess.run([*as_owner, binaries / "pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    plan, run, plans, calls = (sum(r[i] for r in rows) for i in (2, 3, 1, 0))
    print(f"statements of {n} payments: {(plan + run) / n:.3f} ms a payment, {plan / n:.3f} of it planning "
          f"({plans / n:.1f} plans and {calls / n:.1f} calls a payment)")  # fmt: skip
    import re

    schema = (Path(__file__).resolve().parents[1] / "schema.sql").read_text()
    known = set(re.findall(r"(?:TABLE IF NOT EXISTS|VIEW)\s+(\w+)", schema))
    for calls, plans, p, e, _, query in rows[:15]:
        print(f"  {(p + e) / n:6.3f} ms  plan {p / n:5.3f}  {calls / n:5.2f} calls ({plans / max(calls, 1):4.0%} "
              f"planned)  {(p + e) / max(calls, 1):6.3f} ms a call  {_tables(query, known)}")  # fmt: skip


def _tables(query: str, known: set[str]) -> str:
    """What a statement writes and reads, by table, in the order it names them (the text of the batch statements
    begins alike): only ``known`` names (schema.sql's tables and views), so neither a CTE nor a column is taken
    for one."""
    import re

    found = re.findall(r"\b(INSERT INTO|UPDATE|COPY|FROM|JOIN)\s+\"?(\w+)", query, flags=re.IGNORECASE)
    writes = dict.fromkeys(t for verb, t in found if t in known and verb.upper() in ("INSERT INTO", "UPDATE", "COPY"))
    reads = dict.fromkeys(t for _, t in found if t in known and t not in writes)
    return f"writes {', '.join(writes) or '-'}; reads {', '.join(reads) or '-'}"


def steady(n: int = 200, clients: int = 20) -> None:
    """``n`` payments from ``clients`` clients, each waiting for its payment.success webhook, as bench/table.py's
    steady phase: percentiles of the whole and of each stage, from the event store and the webhook log."""
    import webhooks

    async def run(url: str) -> list[tuple[str, float, float, float]]:
        server = await webhooks.receiving(url)
        client = webhooks.Client(url, 100)
        try:
            await webhooks.warm_up(client)
            todo = await webhooks.orders(client, n)
            out: list[tuple[str, float, float, float]] = []

            async def one(mine: list[str]) -> None:
                for order_id in mine:
                    wall = time.time()
                    payment_id, started = await webhooks.pay(client, order_id)
                    out.append((payment_id, wall, started, await webhooks.Receiver.wait(payment_id)))

            await asyncio.gather(*(one(todo[i::clients]) for i in range(clients)))
            return out
        finally:
            await client.close()
            server.close()

    work = Path(tempfile.mkdtemp(prefix="paygate-levers-"))
    with core.fresh_database(PG, "levers") as db, webhooks.own_redis(work) as rd:
        gateway = webhooks.Gateway(db, rd, work, LOG_LEVEL="INFO", WEBHOOK_REDRIVE_S="600")
        try:
            gateway.start()
            paid = asyncio.run(run(gateway.url))
        finally:
            gateway.stop()
        stages: list[list[float]] = [[], [], [], [], []]
        with psycopg.connect(db) as conn:
            for payment_id, wall, started, arrived in paid:
                row = conn.execute(
                    """SELECT extract(epoch FROM (SELECT recorded_at FROM events WHERE stream_id = %(s)s
                                                  AND stream_version = 1)),
                              extract(epoch FROM (SELECT recorded_at FROM events WHERE stream_id = %(s)s
                                                  AND stream_version = 2)),
                              (SELECT extract(epoch FROM created_at) FROM webhook_logs
                               WHERE event = 'payment.success' AND body::jsonb->'data'->'payment'->>'id' = %(p)s)""",
                    {"s": f"payment-{payment_id}", "p": payment_id},
                ).fetchone()
                assert row is not None
                created, decided, scheduled = (float(x) - wall for x in row)
                total = arrived - started
                for column, value in zip(stages, (total, created, decided - created, scheduled - decided,
                                                  total - scheduled), strict=True):  # fmt: skip
                    column.append(value * 1000)
    print(f"{n} payments from {clients} clients, ms: whole, POST to created, created to decided, decided to the")
    print("success delivery scheduled, scheduled to its webhook received")
    for q in (50, 90, 99):
        print(f"  p{q}: " + "  ".join(f"{webhooks.pct(column, q):6.1f}" for column in stages))


def main() -> None:
    what, args = sys.argv[1], sys.argv[2:]
    if what == "steady":
        steady()
        return
    if what == "e2e":
        part = next((a for a in args if not a.isdigit()), "worker")
        e2e(part, int(next((a for a in args if a.isdigit()), "1000")))
        return
    if what == "wal":
        wal(int(args[0]) if args else 500)
        return
    if what == "statements":
        statements(int(args[0]) if args else 1000)
        return
    if what == "store":
        store(int(args[0]) if args else 3)
        return
    if what == "encode":
        encode(args[0])
        return
    if what == "parse":
        parse(args[0])
        return
    if what == "arrays":
        dump_arrays(args[0])
        return
    if what == "log":
        log_lines(int(args[0]) if args else 100_000)
        return
    if what == "instr":
        instr(args)
        return
    if what == "sinstr":
        sinstr(args)
        return
    if what == "served":
        served(args)
        return
    if what == "finstr":
        finstr(args)
        return
    if what == "winstr":
        winstr(args)
        return
    if what == "dinstr":
        dinstr(args)
        return
    if what == "asgi":
        with scratch_store() as (db, rd):
            asyncio.run(asgi_alone(db, rd, int(args[0]) if args else 2000))
        return
    if what == "command":
        with core.fresh_database(PG, "levers") as db:
            asyncio.run(commands_alone(db, int(args[0]) if args else 2000))
        return
    rd = SCRATCH_REDIS if "--redis" not in args else args[args.index("--redis") + 1]
    args = [a for a in args if a != "--redis" and a != rd]
    redis.Redis.from_url(rd).flushdb()
    work = Path(tempfile.mkdtemp(prefix="paygate-levers-"))
    env = dict(a.split("=", 1) for a in args if "=" in a)
    if what == "workers":
        env["API_WORKERS"] = args[0]
    with core.fresh_database(PG, "levers") as db:
        r = table.measure_r(db, 4) if what == "workers" else 0.0
        with table.make_run(db, rd, work, TEST_PROCESSING_DELAY="600000", **env) as (url, root):
            procs = table.tree(root)
            if what == "idle":
                seconds = float(args[0]) if args else 20.0
                time.sleep(5)
                before = {p.pid: table.cpu_s([p]) for p in procs}
                time.sleep(seconds)
                for p in procs:
                    print(f"{table.part_name(p)}: {(table.cpu_s([p]) - before[p.pid]) / seconds:.2%} of a core")
                print(f"the machine: {wakeup_cost_s() * 1e6:.0f} µs of CPU a bare wake-up (500 of time.sleep(0.01))")
                return
            made = asyncio.run(table.some_orders(url, 200))
            if what == "workers":
                for mode in [a for a in args[1:] if "=" not in a] or ["pay", "order"]:
                    f = table.wrk(url, mode, made, 6, work)
                    print(f"API_WORKERS={args[0]} R={r:.0f} {mode}: {f['rps']:.0f}/s ({f['rps'] / r:.3f} R),"
                          f" p99 {f['p99_ms']:.0f} ms")  # fmt: skip
                return
            routes = [a for a in args if a in ROUTES] or ["pay"]
            part = next((a for a in args if "=" not in a and a not in ROUTES), "api")
            spied = ([p for p in procs if table.part_name(p).startswith(part)] or [None])[-1]
            spy, profile = None, work / f"{part}-profile.txt"
            if spied is not None and shutil.which("py-spy"):
                cmd = spy_command(spied.pid, "-d", "7")
                spy = subprocess.Popen([*cmd, "-o", str(profile)], stdout=subprocess.DEVNULL)

            def cpu() -> dict[str, float]:
                # The servers' processes looked up at each reading: a pool that grows during the run brings new
                # backends, and all of their CPU is the run's.
                others = servers()
                parts: dict[str, float] = {}
                for p in procs:  # the API's processes under one name
                    name = table.part_name(p)
                    parts[name] = parts.get(name, 0.0) + table.cpu_s([p])
                return (
                    parts
                    | {k: table.cpu_s(v) for k, v in others.items()}
                    | postgres_cpu_by_client(db, others["postgres (all)"])
                )

            for route in routes:
                ids = made
                if route == "get":
                    asyncio.run(some_payments(url, made))
                    with psycopg.connect(db) as conn:
                        ids = [r[0] for r in conn.execute("SELECT id FROM payments ORDER BY random() LIMIT 5000")]
                grouped = group_commits(url)
                f = table.wrk(url, route, ids, 6, work, cpu)
                carriers, appends = (b - a for a, b in zip(grouped, group_commits(url), strict=True))
                if f["non2xx"] or f["errors"]:
                    print(f"  NOT ALL ANSWERED: {f['non2xx']} not 2xx, {f['errors']} errors")
                if carriers:
                    print(f"  group commit: {appends / carriers:.2f} appends a statement ({carriers:,.0f} statements)")
                if spy:
                    spy.wait()
                    print(f"py-spy profile of {part} ({route}): {profile}")
                    spy = None
                print(f"{ROUTES[route]}: {f['rps']:.0f} req/s, p99 {f['p99_ms']:.0f} ms")
                for name, used in f["after"].items():
                    if name not in f["before"]:
                        continue  # a backend that came during the run: its CPU is in "postgres (all)"
                    print(f"  {name}: {(used - f['before'][name]) * 1000 / f['requests']:.3f} ms CPU per request")
                print(f"  wrk (the client): {f['wrk_cpu_s'] * 1000 / f['requests']:.3f} ms CPU per request")


def group_commits(url: str) -> tuple[float, float]:
    """The API's statements that carried requests' lone appends, and the appends they carried, so far (/metrics)."""
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = dict.fromkeys(("paygate_group_commit_statements_total", "paygate_group_commit_appends_total"), 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found["paygate_group_commit_statements_total"], found["paygate_group_commit_appends_total"]


def wakeup_cost_s() -> float:
    """This process's CPU for one wake-up from a short sleep: what every idle tick of every process pays at least,
    and what a virtual machine's timers can make several times dearer from one hour to the next."""
    before = time.process_time()
    for _ in range(500):
        time.sleep(0.01)
    return (time.process_time() - before) / 500


async def some_payments(url: str, orders: list[str]) -> None:
    """A payment on each of ``orders``, so there is something to read."""
    from webhooks import Client, pay

    client = Client(url, 20)
    try:
        for order_id in orders:
            await pay(client, order_id)
    finally:
        await client.close()


#: What ``cpu`` may load with wrk (bench/api.lua's modes).
ROUTES = {"pay": "POST /api/v1/payments", "get": "GET /api/v1/payments/{id}", "order": "POST /api/v1/orders"}


if __name__ == "__main__":
    main()
