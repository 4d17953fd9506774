"""The one error mapper: domain errors and malformed requests become SPEC.md's error body."""

import itertools
import re
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

import ledger
from api import outage
from api.ratelimit import TooManyFailures
from api.responses import JSON
from commands import errors

log = structlog.get_logger(__name__)

#: Domain error class → HTTP status; the most specific class listed wins.
STATUS: dict[type[errors.DomainError], int] = {
    errors.DomainError: 400,
    errors.NotFound: 404,
    errors.Unauthenticated: 401,
    errors.Conflict: 409,
}


#: Sent with every 401, so HTTP clients know to answer with Basic credentials (key as user, secret as password).
CHALLENGE = {"WWW-Authenticate": 'Basic realm="paygate"'}


def error_body(code: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "description": description, **{k: v for k, v in extra.items() if v}}}


def _status(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


#: A path part shown back to the client: a plain name, never a value that merely sits where a key goes (a payer
#: may send a card number as a key); three digits in a row could be a CVV, so such a part is not shown either.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_DIGITS = re.compile(r"[0-9]{3}")


def _plain(part: Any) -> bool:
    if isinstance(part, int):
        return True
    return isinstance(part, str) and bool(_PLAIN.fullmatch(part)) and not _DIGITS.search(part)


def describe(err: dict[str, Any]) -> tuple[str, str | None]:
    """A readable description of one pydantic error that never echoes the input (it may be a card number)."""
    loc = list(err.get("loc", ()))
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    shown = [str(p) for p in itertools.takewhile(_plain, loc)]
    field = ".".join(shown) or None
    kind = err.get("type", "")
    if kind == "json_invalid":
        return "Request body is not valid JSON", None
    if len(shown) < len(loc):
        where = f"{field} has" if field else "Request body has"
        return f"{where} a field that is not accepted", field
    if kind == "missing":
        return (f"{field} is required" if field else "Request body is required"), field
    if kind == "extra_forbidden":
        return f"{field} is not an accepted field", field
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return (f"{field} must be a JSON object" if field else "Request body must be a JSON object"), field
    msg = str(err.get("msg") or "is invalid")
    given = err.get("input")
    if isinstance(given, str | int) and not isinstance(given, bool) and len(str(given)) >= 3 and str(given) in msg:
        msg = "is invalid"
    return (f"{field}: {msg}" if field else msg), field


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def domain_error(request: Request, exc: errors.DomainError) -> JSON:
        status = _status(exc)
        headers = CHALLENGE if status == 401 else None
        return JSON(error_body(exc.code, exc.description, field=exc.field), status_code=status, headers=headers)

    @app.exception_handler(TooManyFailures)
    async def too_many_failures(request: Request, exc: TooManyFailures) -> JSON:
        headers = {"Retry-After": str(exc.retry_after)}
        return JSON(error_body("RATE_LIMIT_ERROR", str(exc)), status_code=429, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSON:
        description, field = describe(exc.errors()[0])
        return JSON(error_body("BAD_REQUEST_ERROR", description, field=field), status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSON:
        code = {401: "AUTHENTICATION_ERROR", 404: "NOT_FOUND_ERROR"}.get(exc.status_code, "BAD_REQUEST_ERROR")
        if exc.status_code >= 500:
            code = "SERVER_ERROR"
        headers = {**(exc.headers or {}), **(CHALLENGE if exc.status_code == 401 else {})}
        return JSON(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(ledger.ConcurrencyConflict)
    async def conflict(request: Request, exc: ledger.ConcurrencyConflict) -> JSON:
        return JSON(error_body("CONFLICT_ERROR", "Too many concurrent changes; try again"), status_code=409)

    async def database_error(request: Request, exc: Exception) -> JSON:
        if outage.is_outage(exc):
            return database_unavailable(request, exc)
        return await unexpected(request, exc)

    app.add_exception_handler(psycopg.Error, database_error)
    app.add_exception_handler(PoolTimeout, database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSON:
        if outage.is_outage(exc):
            return database_unavailable(request, exc)
        log.exception("request.failed", error_type=type(exc).__name__)
        return JSON(error_body("SERVER_ERROR", "Internal server error"), status_code=500)


def database_unavailable(request: Request, exc: BaseException) -> JSON:
    """503 with ``Retry-After``: ``COMMIT_UNKNOWN`` when the request had sent a write, else unavailable."""
    request.app.state.breaker.trip()
    headers = {"Retry-After": str(outage.RETRY_AFTER_S)}
    if outage.outcome_unknown():
        log.warning("request.commit_unknown", error_type=type(exc).__name__)
        description = (
            "The database connection was lost while this request was being saved, so it may or may not have "
            "taken effect; retry it with the same Idempotency-Key to get its result"
        )
        return JSON(error_body("COMMIT_UNKNOWN", description), status_code=503, headers=headers)
    log.warning("request.database_unavailable", error_type=type(exc).__name__)
    return JSON(
        error_body("SERVICE_UNAVAILABLE", "The database is unavailable; retry shortly"),
        status_code=503,
        headers=headers,
    )
