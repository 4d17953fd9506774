"""Structured JSON logs with a request id on every line of a request (never a body: it may hold a card)."""

import asyncio
import atexit
import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO, cast

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics


class Lines:
    """Where the JSON lines go: stdout (looked up at each write, so a test's capture sees them too).

    An access line per request was, with its own ``write`` and flush, about a tenth of a small request's CPU.
    A line logged on a running event loop now waits for the loop's next turn, and every line of that turn goes
    out in one write. A warning or an error, or a line from a thread with no loop, goes out at once, after the
    lines waiting before it. A SIGKILL loses at most the lines of the loop turn it interrupts; an ordinary
    exit writes them.
    """

    def __init__(self, stream: Callable[[], TextIO] = lambda: sys.stdout) -> None:
        self.stream = stream
        self._waiting: list[bytes] = []
        self._lock = threading.Lock()

    def later(self, line: bytes) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.now(line)
            return
        with self._lock:
            self._waiting.append(line)
            first = len(self._waiting) == 1
        if first:
            loop.call_soon(self.flush)

    def now(self, line: bytes) -> None:
        with self._lock:
            self._waiting.append(line)
            self._write()

    def flush(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        if not self._waiting:
            return
        data = b"\n".join(self._waiting) + b"\n"
        self._waiting.clear()
        out = self.stream()
        out.flush()  # text written to it some other way goes first
        out.buffer.write(data)
        out.buffer.flush()


class LineLogger:
    """structlog's final stage: info and debug lines wait for the loop's turn, the rest are written at once."""

    def __init__(self, lines: Lines) -> None:
        self.later, self.now = lines.later, lines.now

    def msg(self, message: bytes) -> None:
        self.later(message)

    def urgent(self, message: bytes) -> None:
        self.now(message)

    log = debug = info = msg
    warn = warning = err = error = critical = fatal = exception = failure = urgent


class LineHandler(logging.Handler):
    """The libraries' records (stdlib logging), rendered by the handler's formatter into the same lines."""

    def __init__(self, lines: Lines) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode()
        except Exception:  # logging must never raise into the code that logs
            self.handleError(record)
            return
        (self.lines.later if record.levelno < logging.WARNING else self.lines.now)(line)


def _dumps(value: Any, **kw: Any) -> bytes:
    """orjson (a few times faster than json); what it cannot encode (an int past 64 bits, say) goes through json."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=kw.get("default"))
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, **kw).encode()


LINES = Lines()
atexit.register(LINES.flush)
#: The last stage of our own lines, the access line's included.
_render = structlog.processors.JSONRenderer(_dumps)

_clock: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """The time now in UTC, ISO 8601 with microseconds and a ``Z``: every line's timestamp."""
    return iso_utc(time.time_ns())


def iso_utc(ns: int) -> str:
    """``ns`` nanoseconds after the epoch as ``now_iso`` writes it.

    The date and time of day are formatted once a second; structlog's ``TimeStamper`` built a ``datetime`` and
    formatted it all for every line. Unlike ``isoformat`` this always writes six digits of microseconds, so
    every timestamp has one width.
    """
    global _clock
    second, rest = divmod(ns, 1_000_000_000)
    clock = _clock  # read once: another thread may replace it meanwhile
    if clock[0] != second:
        clock = _clock = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{clock[1]}.{rest // 1000:06d}Z"


def add_timestamp(_logger: Any, _method: str, event_dict: Any) -> Any:
    event_dict["timestamp"] = now_iso()
    return event_dict


#: Whether info lines (access lines among them) are written: ``configure`` sets it from the level it is given.
_info_on = True


def configure(level: str = "INFO") -> None:
    """JSON lines on stdout for our loggers and every library's (Dramatiq, uvicorn, psycopg's pool) alike, each
    carrying the ids bound in the context (request, merchant, payment, job)."""
    global _info_on
    threshold = logging.getLevelName(level)
    shared: list[Any] = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level, add_timestamp]
    handler = LineHandler(LINES)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(lambda value, **kw: _dumps(value, **kw).decode()),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq"):
        lib = logging.getLogger(name)  # libraries that install their own handlers: send them to ours instead
        lib.handlers.clear()
        lib.propagate = True
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _render],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=lambda *_: LineLogger(LINES),
        cache_logger_on_first_use=True,
    )
    _info_on = threshold <= logging.INFO


def begin(scope: Scope) -> str:
    """Start a request's log context: its id (the caller's X-Request-Id when usable), kept in the scope's state
    and bound to every line logged until ``end``."""
    given = ""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")  # the last one, when sent twice
    request_id = given if 0 < len(given) <= 64 and given.isprintable() else secrets.token_hex(8)
    scope.setdefault("state", {})["request_id"] = request_id
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


def end(scope: Scope, status: int, started: float) -> None:
    """Record a finished request (``started``: its ``time.perf_counter()``): latency metric and access line."""
    elapsed = time.perf_counter() - started
    metrics.observe(scope, status, elapsed)
    if _info_on:
        access_line(scope, status, round(elapsed * 1000, 2))
    structlog.contextvars.clear_contextvars()


def access_line(scope: Scope, status: int, ms: float) -> None:
    """The request's info line: what ``structlog.get_logger().info("request", **ids, method=..., path=...,
    status=..., ms=...)`` writes (``info``). ``end`` writes it only where ``configure``'s level lets info lines
    through."""
    line = {k: v for k, v in scope.get("path_params", {}).items() if k.endswith("_id")}
    line.update(method=scope["method"], path=scope["path"], status=status, ms=ms)
    _info("request", line)


def info(event: str, **fields: Any) -> None:
    """What ``structlog.get_logger().info(event, **fields)`` writes, its keys in the same order, made here
    directly, for the lines of every request or job: through structlog's bound logger and processors a line took
    67 thousand instructions, 37 thousand here. Nothing where ``configure``'s level keeps info lines out."""
    if _info_on:
        _info(event, fields)


def _info(event: str, line: dict[str, Any]) -> None:
    line["event"] = event
    structlog.contextvars.merge_contextvars(None, "info", line)
    line["level"] = "info"
    line["timestamp"] = now_iso()
    LINES.later(cast(bytes, _render(None, "info", line)))  # _dumps makes bytes


class RequestContext:
    """Gives each request an id (or keeps the caller's X-Request-Id), echoes it, and logs one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = begin(scope).encode()
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            end(scope, status, started)
