"""Fallback load generator for bench/core.py when `wrk` is not installed (asyncio + httpx, one process).

It costs far more CPU per request than wrk, and on a 2-core machine that CPU is taken from the server, so
its figures are a lower bound. Prints the same ``BENCH_JSON {...}`` line as bench/rotate.lua.

Usage: python bench/httpload.py URL post|get IDS_FILE API_KEY API_SECRET CONNECTIONS SECONDS
"""

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

import httpx


async def main(url: str, mode: str, ids_file: str, key: str, secret: str, conns: int, seconds: float) -> None:
    ids = [line for line in Path(ids_file).read_text().splitlines() if line]
    rotation = itertools.cycle(ids)
    latencies: list[float] = []
    non2xx = errors = 0
    headers = {"X-Api-Key": key, "X-Api-Secret": secret}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)

    async def connection(client: httpx.AsyncClient) -> None:
        nonlocal non2xx, errors
        while (started := time.perf_counter()) < deadline:
            one = next(rotation)
            try:
                if mode == "post":
                    r = await client.post(
                        "/api/v1/payments", json={"order_id": one, "method": "upi", "vpa": "bench@okbank"}
                    )
                else:
                    r = await client.get(f"/api/v1/payments/{one}")
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            non2xx += not 200 <= r.status_code < 300

    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as client:
        await asyncio.gather(*(connection(client) for _ in range(conns)))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    figures = {
        "requests": len(latencies),
        "duration_s": round(elapsed, 3),
        "non2xx": non2xx,
        "errors": errors,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
    }
    print("BENCH_JSON " + json.dumps(figures))


if __name__ == "__main__":
    u, m, f, k, s, c, d = sys.argv[1:8]
    asyncio.run(main(u, m, f, k, s, int(c), float(d)))
