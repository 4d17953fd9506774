"""uvicorn's server, looking up once a second instead of ten times while nothing else wakes it.

uvicorn's main loop sleeps 0.1 s between looks at whether it should stop (and at the clock, for the ``date``
header, which it changes once a second anyway). Idle, that is ten wake-ups a second of each server process, and
a virtual machine can charge tens of microseconds of CPU for each. Here the loop waits up to a second, and a
signal to stop ends the wait at once, so shutting down is as quick as before.

Several processes (``workers`` > 1) are served here too, not by uvicorn's own supervisor: that one wakes twice a
second to ping each of them, serves them on its own server (ten wake-ups a second each), and its processes go
on serving when it is killed, holding the port that its replacement must bind. Here the parent binds the
socket, starts the processes on it, sleeps until one of them ends or a signal comes, and each of them ends with
the parent (Linux's parent-death signal).
"""

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from paygate.children import die_with_parent

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


#: More than this many processes ended within a minute: they would go on ending, so the parent gives up.
MAX_ENDINGS = 5


def run(app: Any, **options: Any) -> None:
    """``uvicorn.run(app, **options)`` on this module's server, with ``DEFAULTS``: in this process, or with
    ``workers`` > 1 (``app`` an import string) in that many, sharing the listening socket."""
    workers = options.pop("workers", None) or 1
    cfg = config(app, **options)
    if workers > 1:
        sys.exit(_run_processes(cfg, workers))
    _serve(cfg)


def _serve(cfg: uvicorn.Config, sockets: list[socket.socket] | None = None) -> None:
    server = Server(cfg)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run: the server could not start (its error is logged)


def _serve_child(cfg: uvicorn.Config, sock: socket.socket, parent: int) -> None:
    """One of ``_run_processes``' processes: it ends with ``parent`` (SIGTERM: requests in flight finish)."""
    die_with_parent()
    if os.getppid() != parent:
        return  # the parent was gone before the signal was asked for
    cfg.configure_logging()  # as uvicorn.Config's own __init__ does in the parent
    _serve(cfg, [sock])


def _run_processes(cfg: uvicorn.Config, count: int) -> int:
    """Serve ``cfg`` from ``count`` processes on one socket until SIGINT or SIGTERM (the socket is closed, so new
    connections are refused, and they get SIGTERM and are waited for: 0). One that ends (killed, out of memory,
    or it could not start: the database away, say) is started again, unless more than ``MAX_ENDINGS`` ended within
    a minute: then the others are stopped too (``STARTUP_FAILURE`` if the last could not start, else 1)."""
    sock = cfg.bind_socket()
    spawn = multiprocessing.get_context("spawn")
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda n, _: stop.append(n))
    signal.set_wakeup_fd(wake_w.fileno())  # a signal ends the wait below

    def start() -> Any:
        proc = spawn.Process(target=_serve_child, args=(cfg, sock, os.getpid()), name="paygate api")
        proc.start()
        return proc

    procs = [start() for _ in range(count)]
    endings: list[float] = []  # when processes ended, within the last minute
    failed = 0
    while not stop and not failed:
        wait([wake_r, *(p.sentinel for p in procs)])
        with contextlib.suppress(BlockingIOError):
            wake_r.recv(64, socket.MSG_DONTWAIT)
        for i, proc in enumerate(procs):
            if proc.exitcode is None or stop or failed:
                continue
            now = time.monotonic()
            endings = [t for t in endings if now - t < 60] + [now]
            if len(endings) > MAX_ENDINGS:
                failed = STARTUP_FAILURE if proc.exitcode == STARTUP_FAILURE else 1
                continue
            print(f"paygate api: process {proc.pid} ended ({proc.exitcode}); starting another", file=sys.stderr)
            procs[i] = start()
    sock.close()  # first: once the processes have closed theirs as they stop, a new connection is refused
    for proc in procs:
        if proc.exitcode is None:
            proc.terminate()
    for proc in procs:
        proc.join()
    return failed
