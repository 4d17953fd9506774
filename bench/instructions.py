"""Instructions per request of the API's hot routes, counted by callgrind: a figure of the API's own work that
stays nearly the same from run to run (within about 1 %), where CPU time on a shared 2-core machine moves by
tens of per cent within minutes. Used by ``levers.py instr`` and ``make bench`` (``table.py``).

The routes run in process, as ``levers.py asgi`` runs them (the app called with ASGI messages on uvloop, no
server), against a fresh database; only this process's instructions count, not PostgreSQL's or Redis's.
Under callgrind the code runs about 50 times slower, so work done per unit of time rather than per request
(caches that expire after a few seconds, the 5 ms wake-up) weighs about 50 times more than it does live:
compare counts with counts, not with CPU time.

Needs valgrind (with its headers, ``valgrind/callgrind.h``) and gcc, both in Debian's packages of those names.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The meter: callgrind's client requests, which only a compiled caller can make.
SOURCE = """#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void stop(const char *name) { CALLGRIND_DUMP_STATS_AT(name); CALLGRIND_STOP_INSTRUMENTATION; }
"""
HEADER = Path("/usr/include/valgrind/callgrind.h")
LEVERS = Path(__file__).resolve().parent / "levers.py"
#: Where every measured child runs, as the gateways the benchmarks start do: the data folder (``.data``, with the
#: server key that opens merchants' webhook secrets) is the project's, wherever the benchmark was started from.
ROOT = LEVERS.parents[1]
#: Events per batch of the followers measured (``count_followers``): about what a live batch holds under load.
FOLLOWER_BATCH = 100


def available() -> bool:
    return bool(shutil.which("valgrind") and shutil.which("gcc") and HEADER.exists())


class Meter:
    """Counts this process's instructions from ``start`` to ``stop`` (run under callgrind with
    ``--instr-atstart=no``); each ``stop`` dumps them under its name."""

    def __init__(self, library: str) -> None:
        import ctypes

        self._lib = ctypes.CDLL(library)

    def start(self) -> None:
        self._lib.start()

    def stop(self, name: str) -> None:
        self._lib.stop(name.encode())


def count(database_url: str, redis_url: str, n: int, at_once: int = 1) -> dict[str, float]:
    """Instructions per request of each hot route, ``n`` requests each (``at_once`` in flight together), against
    that (fresh) database."""
    child = ["instr", "--child", database_url, redis_url]
    return {name: total / n for name, total in run_child(child, str(n), str(at_once)).items()}


def count_followers(database_url: str, batch: int, limit: int | None = None) -> dict[str, float]:
    """Instructions per event of the projector's two followers (the projection runner and the chainer),
    each run over that database's log in batches of ``batch`` events, to its end or past ``limit`` events
    (``levers.py finstr``)."""
    figures = {}
    after = [str(batch)] + ([str(limit)] if limit else [])
    for name, total in run_child(["finstr", "--child", database_url], *after).items():
        follower, events = name.rsplit(" ", 1)  # the child names each dump by its follower and its events
        figures[follower] = total / int(events)
    return figures


def count_dispatcher(database_url: str, redis_url: str, batch: int, limit: int | None = None) -> float:
    """Instructions per event of the dispatcher, following that database's log again from its start in batches
    of ``batch`` events, to its end or past ``limit`` events (``levers.py dinstr``), its jobs sent to
    ``redis_url``. Over a log it has followed, each delivery it schedules is found scheduled already: its
    append writes and returns nothing, a little less work than live (everything before the append is the same)."""
    after = [str(batch)] + ([str(limit)] if limit else [])
    (name, total), *_ = run_child(["dinstr", "--child", database_url, redis_url], *after).items()
    return total / int(name.rsplit(" ", 1)[1])


def count_worker(admin_url: str, n: int) -> dict[str, float]:
    """The worker's instructions per payment decided and per webhook delivered (``levers.py winstr``): the API,
    dispatcher and projector make ``n`` payments and schedule their first two deliveries each with no worker
    running; then the worker's jobs run in process under callgrind (``levers.worker_alone``), delivering to a
    receiver in this process."""
    import asyncio
    import tempfile

    import core
    import psycopg
    import webhooks

    work = Path(tempfile.mkdtemp(prefix="paygate-winstr-"))
    with core.fresh_database(admin_url, "winstr") as db, webhooks.own_redis(work) as rd:
        gateway = webhooks.Gateway(db, rd, work, LOG_LEVEL="INFO", WEBHOOK_REDRIVE_S="600")

        async def measured() -> dict[str, int]:
            server = await webhooks.receiving(gateway.url)
            client = webhooks.Client(gateway.url, 20)
            try:
                await asyncio.gather(*(webhooks.pay(client, o) for o in await webhooks.orders(client, n)))
                owed = "SELECT count(*) >= %s FROM webhook_logs WHERE status = 'pending'"
                async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
                    while not (await (await conn.execute(owed, (2 * n,))).fetchone() or [False])[0]:
                        await asyncio.sleep(0.1)  # until the dispatcher has scheduled every delivery owed so far
                gateway.stop()  # the worker's jobs run alone, in the meter, while this process receives
                return await asyncio.to_thread(run_child, ["winstr", "--child", db])
            finally:
                await client.close()
                server.close()

        try:
            gateway.start(parts=("api", "dispatcher", "projector"))
            totals = asyncio.run(measured())
        finally:
            gateway.stop()
            shutil.rmtree(work, ignore_errors=True)
    figures = {}
    for name, total in totals.items():
        what, items = name.rsplit(" ", 1)  # the child names each dump by what it counted and how many
        figures[what] = total / int(items)
    return figures


def count_server(database_url: str, redis_url: str, n: int) -> dict[str, float]:
    """Instructions per request of each hot route counted in the API's whole process: uvicorn's protocol, the
    event loop and the app, ``n`` requests each, one after another on one kept-alive connection from this
    process (``levers.py sinstr``). The difference from ``count`` is what serving a request costs beyond the app."""
    work = Path(tempfile.mkdtemp(prefix="paygate-sinstr-"))
    try:
        steps = _serve(database_url, redis_url, n, work, counted=True)
        totals = _dumps(work)
        return {name: totals[f"server {i}"] / n for i, name in enumerate(steps)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def serve_cpu(database_url: str, redis_url: str, n: int) -> dict[str, tuple[float, float]]:
    """The same requests, served live (no callgrind): each hot route's user and system CPU seconds per request
    in the API's process (``levers.py served``). One client, one request at a time: no other process competes
    with it for the CPU, so the figures move less than under wrk's load."""
    work = Path(tempfile.mkdtemp(prefix="paygate-served-"))
    try:
        return _serve(database_url, redis_url, n, work, counted=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _serve(database_url: str, redis_url: str, n: int, work: Path, *, counted: bool) -> dict[str, tuple[float, float]]:
    """``levers.py sinstr --child`` serving the API, under callgrind if ``counted``; ``n`` requests of each hot
    route sent to it, and for each route its (user, system) CPU seconds per request (of the process callgrind
    runs in when counted: read the counts from ``work``'s dumps instead)."""
    import base64
    import http.client
    import socket

    import orjson
    import psutil

    from paygate.settings import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    library = _meter_library(work)
    heard, said = os.pipe()
    meter = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work / 'out'}"]
    child = subprocess.Popen(
        [*(meter if counted else []), sys.executable, str(LEVERS), "sinstr", "--child", database_url, redis_url,
         library, str(port), str(said)],
        env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, pass_fds=(said,),
    )  # fmt: skip
    os.close(said)
    told = os.fdopen(heard, "rb")

    def tell(line: bytes) -> None:
        assert child.stdin is not None
        child.stdin.write(line)
        child.stdin.flush()

    try:
        assert told.readline() == b"serving\n", "the measured server did not start"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        settings = Settings(database_url=database_url, redis_url=redis_url, test_mode=True, _env_file=None)  # type: ignore[call-arg]
        auth = "Basic " + base64.b64encode(f"{settings.test_api_key}:{settings.test_api_secret}".encode()).decode()

        def call(method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
            data = orjson.dumps(body) if body is not None else None
            conn.request(method, path, data, {"authorization": auth, "content-type": "application/json"})
            answer = conn.getresponse()
            text = answer.read()
            assert answer.status in (200, 201), text
            return dict(orjson.loads(text))

        def order() -> str:
            return str(call("POST", "/api/v1/orders", {"amount": 50000, "currency": "INR"})["id"])

        def pay(order_id: str) -> str:
            body = {"order_id": order_id, "method": "upi", "vpa": "bench@okbank"}
            return str(call("POST", "/api/v1/payments", body)["id"])

        for _ in range(100):  # warm-up: statement caches, prepared statements
            call("GET", f"/api/v1/payments/{pay(order())}")
        orders = [order() for _ in range(n)]
        pays = [pay(order()) for _ in range(n)]
        steps = {
            "POST /orders": lambda i: order(),
            "POST /payments": lambda i: pay(orders[i]),
            "GET /payments/{id}": lambda i: call("GET", f"/api/v1/payments/{pays[i]}"),
        }
        process, figures = psutil.Process(child.pid), {}
        for name, step in steps.items():
            tell(b"start\n")
            assert told.readline() == b"counting\n"
            before = process.cpu_times()
            for i in range(n):
                step(i)
            after = process.cpu_times()
            tell(b"stop\n")
            assert told.readline() == b"counted\n"
            figures[name] = ((after.user - before.user) / n, (after.system - before.system) / n)
        conn.close()
        child.terminate()
        child.wait(timeout=600)
        return figures
    finally:
        told.close()
        if child.poll() is None:
            child.kill()
            child.wait()


def _meter_library(work: Path) -> str:
    (work / "meter.c").write_text(SOURCE)
    library = str(work / "meter.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", library, str(work / "meter.c")], check=True)
    return library


def _dumps(work: Path) -> dict[str, int]:
    """Each callgrind dump's name (its trigger's) and instructions."""
    figures = {}
    for dump in sorted(work.glob("out.*"), key=lambda f: int(f.suffix[1:])):
        lines = dump.read_text().splitlines()
        name = next(ln.split("Client Request: ", 1)[1] for ln in lines if ln.startswith("desc: Trigger: "))
        figures[name] = int(next(ln.split()[1] for ln in lines if ln.startswith("summary: ")))
    return figures


def run_child(child: list[str], *after: str) -> dict[str, int]:
    """Each dump's name and instructions, of ``levers.py *child LIBRARY *after`` run under callgrind."""
    work = Path(tempfile.mkdtemp(prefix="paygate-instr-"))
    try:
        library = _meter_library(work)
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work / 'out'}",
             sys.executable, str(LEVERS), *child, library, *after],
            env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return _dumps(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
