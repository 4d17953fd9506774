"""Named dependencies, so routes read like prose."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request

import commands
import projections
from api.auth import Merchant


async def _conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with request.app.state.pool.connection() as conn:
        yield conn


ConnDep = Annotated[psycopg.AsyncConnection[Any], Depends(_conn)]


async def _merchant(request: Request, conn: ConnDep) -> Merchant:
    merchant: Merchant = await request.app.state.auth.merchant(conn, request.headers)
    return merchant


MerchantDep = Annotated[Merchant, Depends(_merchant)]


def _session(request: Request, conn: ConnDep) -> commands.Session:
    return commands.Session(conn, projections.project_inline, {"request_id": request.state.request_id})


SessionDep = Annotated[commands.Session, Depends(_session)]


def _settings(request: Request) -> Any:
    return request.app.state.settings


SettingsDep = Annotated[Any, Depends(_settings)]
