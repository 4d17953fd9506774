"""Connections to PostgreSQL: the schema, the pool, and the application role every pooled session takes."""

import hashlib
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ledger import wakeups
from paygate.settings import Settings

#: The role application sessions run as: it may read and append events but never change them.
APP_ROLE = "paygate_app"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.sql"
_SCHEMA_LOCK = 7_400_001


def schema_sql() -> str:
    return SCHEMA_FILE.read_text()


async def apply_schema(conninfo: str) -> bool:
    """Apply schema.sql unless this exact text was applied already; True if it ran.

    DDL takes table locks, so re-applying on every process start would make a worker restarted under traffic
    block (or deadlock with) live requests: the text's digest is recorded and an unchanged schema is skipped.
    Concurrent starters wait on an advisory lock instead of racing on DDL.
    """
    text = schema_sql()
    digest = hashlib.sha256(text.encode()).hexdigest()
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        if await _applied(conn, digest):
            return False
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            if await _applied(conn, digest):
                return False
            await conn.execute(text)
            await conn.execute("INSERT INTO schema_applied (digest) VALUES (%s) ON CONFLICT DO NOTHING", (digest,))
        return True


async def _applied(conn: psycopg.AsyncConnection[Any], digest: str) -> bool:
    cur = await conn.execute("SELECT to_regclass('schema_applied') IS NOT NULL")
    row = await cur.fetchone()
    if not (row and row[0]):
        return False
    cur = await conn.execute("SELECT EXISTS (SELECT FROM schema_applied WHERE digest = %s)", (digest,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def _configure(conn: psycopg.AsyncConnection[Any], timeout_s: int) -> None:
    await conn.set_autocommit(True)
    # One round trip. Times are read in UTC, the zone every body, webhook and chain link spells them in (no
    # statement of ours depends on the session's zone): psycopg then gives them datetime's own UTC, which
    # converts and formats in a fraction of the instructions a named zone's does.
    await conn.execute(
        f"SET ROLE {APP_ROLE}; SET idle_in_transaction_session_timeout = '{int(timeout_s)}s'; SET TIME ZONE 'UTC'"
    )


def make_pool(
    settings: Settings, conninfo: str, *, max_size: int | None = None, name: str = "paygate", lean: bool = False
) -> AsyncConnectionPool[Any]:
    """An (unopened) pool of autocommit connections running as the application role.

    ``lean`` (the API's): psycopg prepares nothing itself on them, and ``ledger.statements`` runs the hot
    statements, prepared once a connection, without a cursor (psycopg's preparing would undo it: it deallocates
    every prepared statement of a connection after a rollback). Elsewhere psycopg prepares what repeats, as ever:
    the followers' batches run in pipeline mode, where a statement cannot be run the lean way.
    """

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await _configure(conn, settings.idle_in_transaction_timeout_s)
        wakeups.attach(conn, nudger)  # appends on this pool's connections wake the log's readers after commit

    size = max_size or settings.db_pool_max
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo,
        min_size=min(2, size),
        max_size=size,
        open=False,
        configure=configure,
        name=name,
        kwargs={"application_name": name, **({"prepare_threshold": None} if lean else {})},
    )
    nudger = wakeups.Nudger(lambda: pool)
    return pool
