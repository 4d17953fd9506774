"""uvicorn's server, looking up once a second instead of ten times while nothing else wakes it.

uvicorn's main loop sleeps 0.1 s between looks at whether it should stop (and at the clock, for the ``date``
header, which it changes once a second anyway). Idle, that is ten wake-ups a second of each server process, and
a virtual machine can charge tens of microseconds of CPU for each. Here the loop waits up to a second, and a
signal to stop ends the wait at once, so shutting down is as quick as before.
"""

import asyncio
import contextlib
import sys
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

#: Longest wait between two looks (uvicorn's own: 0.1 s).
TICK_S = 1.0


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # a tick is a second: on_tick refreshes the date header every 10th
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK_S)
            should_exit = await self.on_tick(counter)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop it serves on, once serving."""
        return self._loop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)  # a signal handler: never touch the loop directly


#: What every server here gets unless told otherwise: no ``server`` header (what software answers is nobody's
#: business, and a header less is a little less to write every response).
DEFAULTS: dict[str, Any] = {"server_header": False}


def config(app: Any, **options: Any) -> uvicorn.Config:
    """``uvicorn.Config(app, **options)``, with ``DEFAULTS`` where ``options`` say nothing."""
    return uvicorn.Config(app, **(DEFAULTS | options))


def run(app: Any, **options: Any) -> None:
    """``uvicorn.run(app, **options)`` for one process, on this module's server, with ``DEFAULTS``. (Several
    processes, ``workers`` > 1, are uvicorn's own: each of them makes its own server.)"""
    if (options.get("workers") or 1) > 1:  # as uvicorn.Config counts them
        uvicorn.run(app, **(DEFAULTS | options))
        return
    server = Server(config(app, **options))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run: the server could not start (its error is logged)
