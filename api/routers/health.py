"""Health of the parts: database, Redis, and whether any worker is alive."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from api.responses import JSON
from workers import jobs

router = APIRouter(tags=["health"])


async def _database(request: Request) -> bool:
    try:
        async with asyncio.timeout(2):
            async with request.app.state.pool.connection() as conn:
                await conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _redis(client: Any) -> tuple[bool, bool]:
    try:
        return bool(client.ping()), jobs.live_workers(client) > 0
    except Exception:
        return False, False


@router.get("/health")
async def health(request: Request) -> JSON:
    db_ok, (redis_ok, worker_ok) = await asyncio.gather(
        _database(request), asyncio.to_thread(_redis, request.app.state.redis)
    )
    body = {
        "status": "healthy"
        if db_ok and redis_ok and worker_ok
        else ("degraded" if db_ok and redis_ok else "unhealthy"),
        "database": "connected" if db_ok else "disconnected",
        "redis": "connected" if redis_ok else "disconnected",
        "worker": "running" if worker_ok else "stopped",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    # A missing worker is reported but keeps 200: the API itself serves, and compose starts workers after it.
    return JSON(body, status_code=200 if db_ok and redis_ok else 503)
