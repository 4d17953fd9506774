"""What actors need at run time: settings and a database pool opened in the worker's event loop."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool

import commands
import projections


class Runtime:
    """Opens its pool lazily, inside the event loop that runs the async actors."""

    def __init__(self, settings: Any, make_pool: Callable[[], AsyncConnectionPool[Any]]) -> None:
        self.settings = settings
        self._make_pool = make_pool
        self._pool: AsyncConnectionPool[Any] | None = None
        self._lock: asyncio.Lock | None = None
        #: Per-process objects of the jobs (the webhook courier), made on first use inside the event loop.
        self.resources: dict[str, Any] = {}
        #: The actors bound to this runtime (``workers.actors.declare``), for jobs that enqueue more of themselves.
        self.actors: dict[str, Any] = {}

    async def pool(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._pool is None:
                    pool = self._make_pool()
                    await pool.open(wait=True)
                    self._pool = pool
        return self._pool

    @contextlib.asynccontextmanager
    async def session(self, **metadata: Any) -> AsyncIterator[commands.Session]:
        async with (await self.pool()).connection() as conn:
            yield commands.Session(conn, projections.project_inline, {"actor": "worker", **metadata})

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
