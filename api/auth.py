"""Merchant authentication by X-Api-Key/X-Api-Secret headers or HTTP Basic (key:secret)."""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from redis.exceptions import RedisError
from starlette.datastructures import Headers

from api.expiring import MISSING, Expiring
from api.ratelimit import FailureLimiter, TooManyFailures
from commands.errors import Unauthenticated
from ledger import vault
from projections import merchants

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Merchant:
    id: str
    name: str
    email: str
    api_key: str


#: The headers that can carry credentials, as ASGI servers give header names (lowercase).
_CARRIERS = (b"x-api-key", b"x-api-secret", b"authorization")


def credentials(headers: Headers) -> tuple[str, str] | None:
    """The (key, secret) pair a request carries, from the API headers or from HTTP Basic. Of a header sent twice,
    the first counts (as ``Headers.get`` reads it); the raw headers are read in one pass, where three ``get``
    calls read them three times."""
    found: dict[bytes, bytes] = {}
    for name, value in headers.raw:
        if name in _CARRIERS and name not in found:
            found[name] = value
    key = found.get(b"x-api-key", b"").decode("latin-1")
    secret = found.get(b"x-api-secret", b"").decode("latin-1")
    if key and secret:
        return key, secret
    scheme, _, token = found.get(b"authorization", b"").decode("latin-1").partition(" ")
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

    Secrets are checked against their keyed hash (ledger.vault), in constant time. The cache holds at most
    ``max_keys`` keys: unknown keys are cached too (so a flood of them costs one query each per ``ttl_s``), and
    without a bound a client sending random keys would grow the process without end.

    With a ``limiter``, failures are counted per client address and per API key. An address past its allowance
    is refused outright. A key past its allowance is refused only to addresses that already failed on it in
    the last minute (``first_try`` counts those): the owner calling from elsewhere with the right secret still
    gets in, while each address guessing at that key gets one try a minute.
    """

    def __init__(
        self,
        ttl_s: float = 5.0,
        max_keys: int = 10_000,
        *,
        limiter: FailureLimiter | None = None,
        first_try: FailureLimiter | None = None,
    ) -> None:
        self._cache: Expiring[dict[str, Any] | None] = Expiring(ttl_s, max_keys)
        self._limiter = limiter
        self._first_try = first_try

    def __len__(self) -> int:
        """How many keys are cached."""
        return len(self._cache)

    async def merchant(
        self, conn: psycopg.AsyncConnection[Any], pair: tuple[str, str] | None, client: str | None = None
    ) -> Merchant:
        """The merchant ``pair`` (what ``credentials`` found, None for nothing) authenticates (``client``: the
        caller's address, for the failure limits).

        Raises:
            Unauthenticated: missing, unknown or wrong credentials, an expired key, or an inactive merchant.
            TooManyFailures: this address, or this key from an address that failed on it, failed too often.
        """
        names = self._names(pair, client)
        await self._refuse_if_blocked(names)
        try:
            return await self._check(conn, pair)
        except Unauthenticated:
            await self._count(names)
            raise

    async def _check(self, conn: psycopg.AsyncConnection[Any], pair: tuple[str, str] | None) -> Merchant:
        if pair is None:
            raise Unauthenticated()
        key, secret = pair
        row = self._cache.get(key)
        if row is MISSING:
            row = await merchants.by_api_key(conn, key)
            self._cache.put(key, row)
        # Compare in constant time, and compare even for an unknown key so timing does not tell keys apart.
        right = vault.current().matches(secret, row["secret_hash"] if row else None)
        if not right or row is None or not row["is_active"]:
            raise Unauthenticated()
        if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
            raise Unauthenticated()  # a rotated-out key past its grace period
        return Merchant(id=row["id"], name=row["name"], email=row["email"], api_key=row["api_key"])

    @staticmethod
    def _names(pair: tuple[str, str] | None, client: str | None) -> dict[str, str]:
        names = {"addr": f"addr:{client}"} if client else {}
        if pair is not None:
            names["key"] = f"key:{pair[0]}"
            if client:
                names["pair"] = f"pair:{client}:{pair[0]}"
        return names

    async def _refuse_if_blocked(self, names: dict[str, str]) -> None:
        if self._limiter is None:
            return
        try:
            wait = await self._limiter.blocked([names["addr"]]) if "addr" in names else None
            if wait is None and "key" in names and await self._limiter.blocked([names["key"]]) is not None:
                wait = await self._first_try.blocked([names["pair"]]) if self._first_try and "pair" in names else None
        except RedisError:
            log.warning("auth.limiter_unavailable")  # fail open: the limiter slows attacks, it is not the lock
            return
        if wait is not None:
            raise TooManyFailures(wait)

    async def _count(self, names: dict[str, str]) -> None:
        if self._limiter is None:
            return
        try:
            await self._limiter.failed([n for k, n in names.items() if k != "pair"])
            if self._first_try is not None and "pair" in names:
                await self._first_try.failed([names["pair"]])
        except RedisError:
            log.warning("auth.limiter_unavailable")
