"""Dashboard sessions: an HttpOnly cookie holding a random token, of which only a SHA-256 is stored.

Every state-changing request made with the cookie must also carry ``X-CSRF-Token``: a value derived from the
session token that the dashboard receives in the sign-in answer (and from ``GET /api/v1/dashboard/session``)
and keeps in memory. Another site can make the browser send the cookie, but cannot read that value.
"""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from starlette.requests import Request

from commands.errors import SessionRefused

COOKIE = "paygate_session"
CSRF_HEADER = "x-csrf-token"
#: Methods that change nothing, so they need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of a session: not the session token, and useless without the cookie."""
    return hashlib.sha256(b"paygate-csrf:" + token.encode()).hexdigest()


async def start(conn: psycopg.AsyncConnection[Any], merchant_id: str, at: datetime, ttl_s: int) -> tuple[str, datetime]:
    """A new session of ``merchant_id``: (token for the cookie, expiry). Expired sessions are swept on the way."""
    token, expires = secrets.token_urlsafe(32), at + timedelta(seconds=ttl_s)
    await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < %s", (at,))
    await conn.execute(
        "INSERT INTO dashboard_sessions (token_hash, merchant_id, created_at, expires_at) VALUES (%s, %s, %s, %s)",
        (_hash(token), merchant_id, at, expires),
    )
    return token, expires


async def end(conn: psycopg.AsyncConnection[Any], token: str) -> None:
    await conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = %s", (_hash(token),))


async def merchant_of(conn: psycopg.AsyncConnection[Any], request: Request, at: datetime) -> dict[str, Any]:
    """The merchant whose live session the request's cookie names.

    Raises:
        SessionRefused: no such session, expired, an inactive merchant, or a state-changing request without
            the session's CSRF token.
    """
    token = request.cookies.get(COOKIE, "")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT m.id::text AS id, m.name, m.email, m.api_key, s.expires_at FROM dashboard_sessions s
               JOIN merchants m ON m.id = s.merchant_id
               WHERE s.token_hash = %s AND s.expires_at > %s AND m.is_active""",
            (_hash(token), at),
        )
        row = await cur.fetchone()
    if row is None:
        raise SessionRefused("Session expired or signed out; sign in again")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token(token).encode()):
            raise SessionRefused("Missing or invalid CSRF token")
    return row
