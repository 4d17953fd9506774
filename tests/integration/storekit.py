"""Helpers of the integration tests: connections as the application role or the owner, appends, log drains."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg

import commands
import ledger
import projections
from paygate.database import APP_ROLE


@contextlib.asynccontextmanager
async def app_connection(url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of its own, as the application role (what the pool hands the API and workers)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"SET ROLE {APP_ROLE}")
        yield conn


@contextlib.asynccontextmanager
async def owner_connection(url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection as the owner of the tables (the database superuser here)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        yield conn


def new_stream() -> str:
    return f"test-{uuid.uuid4().hex}"


def new_event(n: int = 0, **metadata: Any) -> ledger.NewEvent:
    return ledger.NewEvent("test.happened.v1", {"n": n}, metadata)


async def append(
    conn: psycopg.AsyncConnection[Any], stream_id: str, events: list[ledger.NewEvent], expected: int
) -> list[ledger.Recorded]:
    """One append in its own transaction, as the command handler does it."""
    async with conn.transaction():
        return await ledger.append(conn, stream_id, events, expected_version=expected)


async def drain(
    conn: psycopg.AsyncConnection[Any], cursor: ledger.Cursor
) -> tuple[list[ledger.Recorded], ledger.Cursor]:
    """Everything ``read_all`` will deliver now after ``cursor``, and the cursor after it."""
    seen: list[ledger.Recorded] = []
    while batch := await ledger.read_all(conn, cursor, 100):
        seen.extend(batch)
        cursor = ledger.Cursor(batch[-1].tx_id, batch[-1].position)
    return seen, cursor


def session_on(conn: psycopg.AsyncConnection[Any], **metadata: Any) -> commands.Session:
    return commands.Session(conn, projections.project_inline, {"actor": "test", **metadata})
