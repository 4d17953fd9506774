"""Structured JSON logs with a request id on every line of a request (never a body: it may hold a card)."""

import logging
import secrets
import sys
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics


def configure(level: str = "INFO") -> None:
    """JSON lines on stdout for our loggers and every library's (Dramatiq, uvicorn, psycopg's pool) alike, each
    carrying the ids bound in the context (request, merchant, payment, job)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
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
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )


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
    ids = {k: v for k, v in scope.get("path_params", {}).items() if k.endswith("_id")}
    ms = round(elapsed * 1000, 2)
    _access.info("request", **ids, method=scope["method"], path=scope["path"], status=status, ms=ms)
    structlog.contextvars.clear_contextvars()


_access = structlog.get_logger("access")


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
