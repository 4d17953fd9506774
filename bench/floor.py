"""The floor under the API's figures on this machine: what one psycopg statement costs, and how fast a bare ASGI
app on uvicorn answers wrk with nothing to do and with one such statement a request. Not the gateway: a bound
on what any gateway built on this stack could do here. Prints figures; asserts nothing.

    python bench/floor.py     # a SELECT 1 loop, then the bare app (``bench/floor.py:app``, FLOOR_MODE plain or
                              # query) under wrk with 1 and 2 uvicorn processes
"""

import asyncio
import os
import re
import subprocess
import sys
import time
from typing import Any

import orjson
import psutil
import psycopg
import uvloop

PG = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BODY = orjson.dumps({"id": "pay_x", "amount": 50000})


async def loop(n: int = 20_000) -> tuple[float, float, float]:
    """(queries a second, client CPU us, server CPU us) of ``SELECT 1`` one after another, async psycopg."""
    async with await psycopg.AsyncConnection.connect(PG, autocommit=True) as conn:
        pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]  # type: ignore[index]
        server, me = psutil.Process(pid), psutil.Process()
        for _ in range(500):
            await (await conn.execute("SELECT 1")).fetchone()
        s0, m0, t0 = sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.perf_counter()
        for _ in range(n):
            await (await conn.execute("SELECT 1")).fetchone()
        t1, s1, m1 = time.perf_counter(), sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2])
    return n / (t1 - t0), (m1 - m0) * 1e6 / n, (s1 - s0) * 1e6 / n


class App:
    """A bare ASGI app: a fixed JSON body, after one ``SELECT`` on a pooled connection in ``query`` mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.pool: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                if self.mode == "query":
                    from psycopg_pool import AsyncConnectionPool

                    self.pool = AsyncConnectionPool(
                        PG, min_size=4, max_size=10, open=False, kwargs={"autocommit": True}
                    )
                    await self.pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = BODY
        if self.pool is not None:
            async with self.pool.connection() as conn:
                row = await (await conn.execute("SELECT %s::text, 50000", (scope["path"],))).fetchone()
            body = orjson.dumps({"id": row[0], "amount": row[1]})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def wrk_rps(mode: str, workers: int, port: int = 8123) -> float:
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "floor:app", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"],
        cwd=os.path.dirname(__file__), env={**os.environ, "FLOOR_MODE": mode},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/x"
        for _ in range(100):
            if subprocess.run(["wrk", "-t1", "-c1", "-d1s", url], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["wrk", "-t2", "-c32", "-d2s", url], capture_output=True, check=True)
        out = subprocess.run(["wrk", "-t2", "-c32", "-d6s", url], capture_output=True, text=True, check=True).stdout
        found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
        assert found, out
        return float(found.group(1))
    finally:
        server.terminate()
        server.wait(30)


app = App(os.environ.get("FLOOR_MODE", "plain"))


def main() -> None:
    uvloop.install()
    rate, client, server = asyncio.run(loop())
    print(
        f"SELECT 1 one after another (async psycopg): {rate:,.0f}/s, {client:.1f} us client CPU, {server:.1f} us server"
    )
    for mode in ("plain", "query"):
        for workers in (1, 2):
            rps = wrk_rps(mode, workers)
            print(f"bare ASGI app, {mode}, {workers} uvicorn process(es), wrk -t2 -c32: {rps:,.0f} req/s")


if __name__ == "__main__":
    main()
