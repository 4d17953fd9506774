"""Dashboard sign-in: email and password for a session cookie, the session's details, and signing out.

Failed sign-ins are limited per email and per client address with the API's failure limiter (Redis, shared by
every API process): an address past its allowance is refused outright, an email past its allowance only to
addresses that already failed on it, so its owner signing in from elsewhere still gets in.
"""

from fastapi import APIRouter, Request
from pydantic import Field
from pydantic.types import StrictStr
from redis.exceptions import RedisError
from starlette.responses import Response

from api import passwords, sessions
from api.deps import ConnDep, MerchantDep, SettingsDep
from api.ratelimit import FailureLimiter, TooManyFailures
from api.responses import JSON
from api.schemas import READ, Strict, errors
from api.seed import TEST_MERCHANT_ID
from api.strictjson import StrictJsonRoute
from commands.errors import SessionRefused
from projections import merchants
from projections.timefmt import iso

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"], route_class=StrictJsonRoute)


class SignIn(Strict):
    email: StrictStr = Field(max_length=254)
    password: StrictStr = Field(max_length=1024)


def _body(request: Request, merchant: dict[str, str], token: str, expires: str) -> dict[str, object]:
    settings = request.app.state.settings
    body: dict[str, object] = {
        "merchant": {k: merchant[k] for k in ("id", "name", "email", "api_key")},
        "csrf_token": sessions.csrf_token(token),
        "expires_at": expires,
        "published_secret": None,
    }
    # Development only: the seeded merchant's secret is published anyway, so the dashboard may show it while
    # its key is still the published one (after a rotation it never is).
    if not settings.production and merchant["id"] == TEST_MERCHANT_ID and merchant["api_key"] == settings.test_api_key:
        body["published_secret"] = settings.test_api_secret
    return body


async def _guard(request: Request, email: str) -> tuple[dict[str, str], tuple[FailureLimiter, FailureLimiter]]:
    client = request.client.host if request.client else "unknown"
    names = {"addr": f"login-addr:{client}", "email": f"login-email:{email}", "pair": f"login-pair:{client}:{email}"}
    limiter, first_try = request.app.state.login_limiter, request.app.state.login_first_try
    try:
        wait = await limiter.blocked([names["addr"]])
        if wait is None and await limiter.blocked([names["email"]]) is not None:
            wait = await first_try.blocked([names["pair"]])
    except RedisError:
        wait = None  # fail open: the limiter slows guessing, the password is the lock
    if wait is not None:
        raise TooManyFailures(wait)
    return names, (limiter, first_try)


@router.post("/login", responses=errors("BAD_REQUEST_ERROR", "AUTHENTICATION_ERROR"))
async def login(body: SignIn, request: Request, conn: ConnDep, settings: SettingsDep) -> Response:
    """Sign in with email and password: sets the HttpOnly session cookie and answers the CSRF token."""
    email = body.email.strip().lower()
    names, (limiter, first_try) = await _guard(request, email)
    row = await merchants.sign_in_row(conn, email)
    ok = await passwords.verify(row["password_hash"] if row else None, body.password)
    if row is not None and settings.test_mode and row["id"] == TEST_MERCHANT_ID:
        ok = True  # SPEC: with TEST_MODE=true the seeded test merchant takes any password
    if not ok or row is None or not row["is_active"]:
        try:
            await limiter.failed([names["addr"], names["email"]])
            await first_try.failed([names["pair"]])
        except RedisError:
            pass
        raise SessionRefused("Invalid email or password")
    at = request.app.state.clock()
    async with conn.transaction():
        token, expires = await sessions.start(conn, row["id"], at, settings.dashboard_session_ttl_s)
    merchant = await merchants.by_id(conn, row["id"])
    assert merchant is not None
    response = JSON(_body(request, merchant, token, iso(expires) or ""))
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=settings.dashboard_session_ttl_s,
        httponly=True,
        samesite="strict",
        secure=settings.production,
        path="/",
    )
    return response


@router.get("/session", responses=errors(*READ))
async def current(request: Request, conn: ConnDep) -> JSON:
    """The signed-in merchant, the session's CSRF token and expiry (after a reload the dashboard asks here)."""
    row = await sessions.merchant_of(conn, request, request.app.state.clock())
    token = request.cookies[sessions.COOKIE]
    return JSON(_body(request, row, token, iso(row["expires_at"]) or ""))


@router.post("/logout", responses=errors(*READ))
async def logout(merchant: MerchantDep, request: Request, conn: ConnDep) -> Response:
    """End the session (CSRF token required) and clear its cookie."""
    async with conn.transaction():
        await sessions.end(conn, request.cookies[sessions.COOKIE])
    response = JSON({"signed_out": True})
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return response
