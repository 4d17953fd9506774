"""Health of the parts: database, Redis, and whether any worker is alive."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from api import metrics
from api.responses import JSON
from ledger import chain
from workers import jobs

router = APIRouter(tags=["health"])
log = structlog.get_logger(__name__)


async def _database(request: Request, timeout_s: float = 2) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            async with request.app.state.pool.connection() as conn:
                await conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _redis(client: Any) -> tuple[bool, bool, dict[str, Any]]:
    try:
        return bool(client.ping()), jobs.live_workers(client) > 0, jobs.part_states(client)
    except Exception:
        return False, False, {}


async def _chain(request: Request, timeout_s: float = 2) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(timeout_s), request.app.state.pool.connection() as conn:
            return await chain.lag(conn)
    except Exception:
        return None


@router.get("/health")
async def health(request: Request, details: bool = False) -> JSON:
    """The parts' health; ``details=true`` adds the hash chain's head and lag (events and seconds)."""
    db_ok, (redis_ok, worker_ok, parts) = await asyncio.gather(
        _database(request), asyncio.to_thread(_redis, request.app.state.redis)
    )
    restarting = sorted(name for name, s in parts.items() if s.get("state") != "running")
    body: dict[str, Any] = {
        "status": "healthy"
        if db_ok and redis_ok and worker_ok and not restarting
        else ("degraded" if db_ok and redis_ok else "unhealthy"),
        "database": "connected" if db_ok else "disconnected",
        "redis": "connected" if redis_ok else "disconnected",
        "worker": "running" if worker_ok else "stopped",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if parts:  # under `paygate run`: each part's state and restarts, as the supervisor published them
        body["parts"] = {
            name: {"state": s.get("state"), "restarts": s.get("restarts", 0)} for name, s in sorted(parts.items())
        }
    if details and db_ok:
        body["chain"] = await _chain(request)
    # A missing worker is reported but keeps 200: the API itself serves, and compose starts workers after it.
    return JSON(body, status_code=200 if db_ok and redis_ok else 503)


@router.get("/ready")
async def ready(request: Request) -> JSON:
    """Whether this API process can serve requests now: its database answers and it is not shutting down."""
    db_ok = await _database(request, timeout_s=1)
    return JSON(
        {"ready": db_ok, "database": "connected" if db_ok else "disconnected"}, status_code=200 if db_ok else 503
    )


@router.get("/metrics", include_in_schema=False)
async def metrics_text(request: Request) -> Response:
    """Prometheus text format: this process's request latencies, then the system's figures read now."""
    snapshot = []
    try:
        async with asyncio.timeout(2), request.app.state.pool.connection() as conn:
            snapshot += await metrics.database_figures(conn)
    except Exception:  # database away: the process's own figures are still worth scraping
        log.warning("metrics.database_unavailable")
    try:
        snapshot += await asyncio.to_thread(metrics.redis_figures, request.app.state.redis)
    except Exception:
        log.warning("metrics.redis_unavailable")
    return Response(metrics.render(snapshot), media_type=CONTENT_TYPE_LATEST)
