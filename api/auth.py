"""Merchant authentication by X-Api-Key/X-Api-Secret headers or HTTP Basic (key:secret)."""

import base64
import binascii
import hmac
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from starlette.datastructures import Headers

from commands.errors import Unauthenticated
from projections import merchants


@dataclass(frozen=True)
class Merchant:
    id: str
    name: str
    email: str
    api_key: str


def credentials(headers: Headers) -> tuple[str, str] | None:
    """The (key, secret) pair a request carries, from the API headers or from HTTP Basic."""
    key, secret = headers.get("x-api-key"), headers.get("x-api-secret")
    if key and secret:
        return key, secret
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and token:
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if sep and user and password and "\x00" not in user + password:  # the database could not look up a NUL
            return user, password
    return None


class Authenticator:
    """Looks merchants up by API key, with a short cache so the hot path skips a query.

    The cache holds at most ``max_keys`` keys: unknown keys are cached too (so a flood of them costs one query
    each per ``ttl_s``), and without a bound a client sending random keys would grow the process without end.
    """

    def __init__(self, ttl_s: float = 5.0, max_keys: int = 10_000) -> None:
        self._ttl = ttl_s
        self._max_keys = max_keys
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def __len__(self) -> int:
        """How many keys are cached."""
        return len(self._cache)

    def _remember(self, key: str, row: dict[str, Any] | None) -> tuple[float, dict[str, Any] | None]:
        now = time.monotonic()
        if len(self._cache) >= self._max_keys:
            self._cache = {k: v for k, v in self._cache.items() if v[0] >= now}
            if len(self._cache) >= self._max_keys:
                self._cache.clear()
        self._cache[key] = entry = (now + self._ttl, row)
        return entry

    async def merchant(self, conn: psycopg.AsyncConnection[Any], headers: Headers) -> Merchant:
        """The authenticated merchant.

        Raises:
            Unauthenticated: missing, unknown or wrong credentials, or an inactive merchant.
        """
        pair = credentials(headers)
        if pair is None:
            raise Unauthenticated()
        key, secret = pair
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            hit = self._remember(key, await merchants.by_api_key(conn, key))
        row = hit[1]
        # Compare in constant time, and compare even for an unknown key so timing does not tell keys apart.
        expected = row["api_secret"] if row else "\0" * len(secret)
        if not hmac.compare_digest(expected.encode(), secret.encode()) or row is None or not row["is_active"]:
            raise Unauthenticated()
        return Merchant(id=row["id"], name=row["name"], email=row["email"], api_key=row["api_key"])
