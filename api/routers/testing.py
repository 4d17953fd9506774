"""Endpoints for evaluators: the seeded merchant and real queue figures."""

import asyncio

from fastapi import APIRouter, Request

from api.deps import ConnDep
from api.responses import JSON
from commands.errors import NotFound
from projections import merchants
from workers import jobs
from workers.broker import QUEUES

router = APIRouter(prefix="/api/v1/test", tags=["test"])


@router.get("/merchant")
async def test_merchant(request: Request, conn: ConnDep) -> JSON:
    row = await merchants.by_api_key(conn, request.app.state.settings.test_api_key)
    if row is None:
        raise NotFound("Test merchant not found")
    return JSON({"id": row["id"], "email": row["email"], "api_key": row["api_key"], "seeded": True})


@router.get("/jobs/status")
async def jobs_status(request: Request) -> JSON:
    return JSON(await asyncio.to_thread(jobs.status, request.app.state.redis, QUEUES))
