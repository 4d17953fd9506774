"""The FastAPI application: built by ``create_app``, resources opened in ``lifespan``."""

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import redis
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

import commands
from api import errors, hotpath, metrics, openapi
from api.auth import Authenticator
from api.guard import RefuseNul
from api.ids import now
from api.limits import BodyLimit
from api.logging import RequestContext
from api.methods import AllowedMethods
from api.migrate import seal_legacy_secrets
from api.outage import Breaker
from api.paywatch import PaymentWatcher
from api.production import refuse_published_credentials
from api.ratelimit import FailureLimiter
from api.routers import (
    balances,
    checkout,
    health,
    history,
    keys,
    orders,
    payments,
    refunds,
    signin,
    stats,
    testing,
    webhooks,
)
from api.seed import seed_test_merchant
from commands import order
from commands.grouping import Group
from ledger import vault


class _AppState(State):
    """Starlette's ``State``, each attribute kept as a plain one too: ``State`` answers a read by its
    ``__getattr__``, only after the ordinary lookup has failed and formatted an AttributeError, some thousands
    of instructions for each of the several reads a request makes."""

    def __setattr__(self, key: Any, value: Any) -> None:
        super().__setattr__(key, value)
        object.__setattr__(self, key, value)

    def __delattr__(self, key: Any) -> None:
        super().__delattr__(key)
        object.__delattr__(self, key)


class Paygate(FastAPI):
    """The API: a hot-route lane (api.hotpath) in front of FastAPI's own stack, which answers everything else."""

    lane: hotpath.Lane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lane is not None and scope["type"] == "http":
            handed_on = await self.lane(scope, receive, send)
            if handed_on is None:
                return
            receive = handed_on
        await super().__call__(scope, receive, send)


def create_app(
    settings: Any,
    redis_url: str,
    make_pool: Callable[[], AsyncConnectionPool[Any]],
    *,
    clock: Callable[[], datetime] = now,
    hot_routes: bool = True,
) -> FastAPI:
    """The API on the given settings, Redis and database pool factory (and clock, which tests may move).
    ``hot_routes=False`` leaves every request to FastAPI's own stack (no api.hotpath lane), for comparison."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = make_pool()
        await pool.open(wait=True)
        app.state.pool = pool
        app.state.redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        await seal_legacy_secrets(pool)
        if settings.production:
            await refuse_published_credentials(pool, settings)
        else:
            await seed_test_merchant(pool, settings)
        # Everything made at start-up lives as long as the process: out of the collector's sight, a full
        # collection takes microseconds instead of ~30 ms of a request's time (100,000 objects).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.payment_watcher.close()
            await pool.close()
            app.state.redis.close()

    app = Paygate(
        title="paygate",
        summary="An event-sourced payment gateway: orders, UPI and card payments, refunds, signed webhooks.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
    )
    app.state = _AppState()
    app.state.settings = settings
    app.state.clock = clock
    # Refuses to build without a usable server key in production (a missing or default SIGNING_KEY).
    vault.install(vault.load_server_key(settings.signing_key, settings.data_dir, production=settings.production))
    app.state.auth = Authenticator(
        limiter=FailureLimiter(redis_url, settings.auth_failures_per_minute),
        first_try=FailureLimiter(redis_url, 1, prefix="paygate-auth-first"),
    )
    app.state.login_limiter = FailureLimiter(redis_url, settings.auth_failures_per_minute, prefix="paygate-login")
    app.state.login_first_try = FailureLimiter(redis_url, 1, prefix="paygate-login-first")
    app.state.breaker = Breaker(settings.db_down_wait_s)
    # Orders this process created or read lately: a payment on one needs no read of it first.
    app.state.snapshots = commands.Snapshots([order])
    # Appends of requests in flight together go in one statement (commands.grouping).
    app.state.group = Group(sent=metrics.grouped) if settings.group_commit else None
    app.state.payment_watcher = PaymentWatcher(lambda: app.state.pool)
    errors.install(app)
    openapi.install(app)
    for router in (
        health.router,
        orders.router,
        payments.router,
        refunds.router,
        balances.router,
        webhooks.router,
        keys.router,
        checkout.router,
        history.router,
        stats.router,
        signin.router,
    ):
        app.include_router(router)
    if not settings.production:  # evaluators' helpers: never served in production
        app.include_router(testing.router)
    if hot_routes:
        app.lane = hotpath.Lane(app, settings.max_body_bytes)
    app.add_middleware(AllowedMethods, routes=app.router.routes)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RefuseNul)
    app.add_middleware(RequestContext)
    return app
