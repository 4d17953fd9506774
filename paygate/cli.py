"""``paygate``: run the whole system, or one part of it, and the operator's commands."""

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from audit import commands as audit_commands
from paygate import embedded, processes
from paygate.children import die_with_parent
from paygate.settings import Settings, get_settings

PARTS = ("api", "worker", "dispatcher", "projector")
#: The checkout's Vite project (built on demand by paygate.uibuild).
CHECKOUT_UI = Path(__file__).resolve().parents[1] / "checkout_ui"
DASHBOARD_UI = Path(__file__).resolve().parents[1] / "dashboard_ui"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paygate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start API, workers, dispatcher and projector (embedded services if unset)")
    sub.add_parser("api", help="the REST API on PORT (default 8000)")
    w = sub.add_parser("worker", help="Dramatiq workers")
    w.add_argument("--queues", nargs="+", default=["payments", "refunds", "webhooks"])
    sub.add_parser("dispatcher", help="follow the log, enqueue jobs, re-drive overdue payments")
    sub.add_parser("projector", help="keep the async read models up to date")
    sub.add_parser("migrate", help="apply schema.sql")
    sub.add_parser("dashboard", help="the merchant dashboard on DASHBOARD_PORT (built first when missing or stale)")
    rb = sub.add_parser("rebuild", help="the same as `audit replay` (kept for existing scripts)")
    rb.add_argument("--json", action="store_true", help="print the report as JSON")
    audit_commands.add_parser(sub)
    m = sub.add_parser("merchant", help="merchant administration")
    msub = m.add_subparsers(dest="merchant_command", required=True)
    mc = msub.add_parser("create", help="register a merchant and print its credentials as JSON")
    mc.add_argument("--name", required=True)
    mc.add_argument("--email", required=True)
    mc.add_argument("--password", help="dashboard password (argon2-hashed; only the hash is recorded)")
    mp = msub.add_parser("password", help="set or change a merchant's dashboard password")
    mp.add_argument("--email", required=True)
    mp.add_argument("--password", required=True)
    q = sub.add_parser("quarantine", help="events a projection or the dispatcher could not handle")
    qsub = q.add_subparsers(dest="quarantine_command", required=True)
    qsub.add_parser("list", help="print the quarantined events as JSON lines")
    qr = qsub.add_parser("retry", help="apply quarantined events again (after a fix); clears each that succeeds")
    which = qr.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", help="a row id from `list` (repeatable)")
    which.add_argument("--all", action="store_true")
    ck = sub.add_parser("checkout", help="the checkout page and checkout.js on CHECKOUT_PORT (default 3001)")
    ck.add_argument("--host", default="0.0.0.0")  # noqa: S104 -- a server, reachable from other containers
    ds = sub.add_parser("demo-shop", help="a merchant's demo site using the checkout, on DEMO_SHOP_PORT (3005)")
    ds.add_argument("--host", default="0.0.0.0")  # noqa: S104 -- a server, reachable from other containers
    r = sub.add_parser("receiver", help="a test webhook receiver: verifies signatures, records, fails on request")
    r.add_argument("--secret", required=True, help="the merchant's webhook secret")
    r.add_argument("--port", type=int, default=3002)
    r.add_argument("--host", default="0.0.0.0")  # noqa: S104 -- a test server, reachable from other containers
    r.add_argument("--fail-first", type=int, default=0, metavar="N", help="answer 500 to the first N deliveries")
    r.add_argument("--delay-ms", type=int, default=0, metavar="D", help="wait D ms before answering")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.command == "run":
        return _run_all(settings)
    if args.command == "checkout":
        return _checkout(settings, args.host)
    if args.command == "demo-shop":
        from paygate import demoshop

        demoshop.serve(
            settings.api_url_for_checkout,
            settings.demo_shop_api_key or settings.test_api_key,
            settings.demo_shop_api_secret or settings.test_api_secret,
            settings.checkout_public_url,
            args.host,
            settings.demo_shop_port,
        )
        return 0
    if args.command == "dashboard":
        return _dashboard(settings)
    if args.command == "receiver":
        from paygate import receiver

        receiver.serve(args.secret, args.host, args.port, fail_first=args.fail_first, delay_ms=args.delay_ms)
        return 0
    if args.command == "audit" and (code := audit_commands.offline(args)) is not None:
        return code
    with embedded.services(settings.database_url, settings.redis_url, settings.data_dir) as svc:
        match args.command:
            case "api":
                processes.api(settings, svc.database_url, svc.redis_url)
            case "worker":
                processes.worker(settings, svc.database_url, svc.redis_url, args.queues)
            case "dispatcher":
                processes.dispatcher(settings, svc.database_url, svc.redis_url)
            case "projector":
                processes.projector(settings, svc.database_url)
            case "migrate":
                from paygate.database import apply_schema

                asyncio.run(apply_schema(svc.database_url))
            case "rebuild":
                replay = argparse.Namespace(audit_command="replay", json=args.json, parts=os.cpu_count() or 1)
                return asyncio.run(_audit(settings, svc.database_url, replay))
            case "audit":
                return asyncio.run(_audit(settings, svc.database_url, args))
            case "merchant":
                if args.merchant_command == "password":
                    return asyncio.run(_set_password(svc.database_url, args.email, args.password))
                return _merchant_create(settings, svc.database_url, args.name, args.email, args.password)
            case "quarantine":
                return asyncio.run(_quarantine(settings, svc.database_url, svc.redis_url, args))
    return 0


def _checkout(settings: Settings, host: str) -> int:
    from paygate import checkout_server, uibuild

    try:
        dist = uibuild.ensure_built(CHECKOUT_UI)
    except uibuild.UIBuildError as e:
        print(f"paygate checkout: {e}", file=sys.stderr)
        return 2
    checkout_server.serve(dist, settings.api_url_for_checkout, host, settings.checkout_port or 3001)
    return 0


def _dashboard(settings: Settings) -> int:
    """Serve the dashboard's build (building it first when needed); exit 1 with one line when it cannot."""
    from paygate import dashboard, uibuild

    if settings.dashboard_port == 0:
        print("paygate dashboard: DASHBOARD_PORT is 0 (no dashboard)", file=sys.stderr)
        return 1
    try:
        dist = uibuild.ensure_built(DASHBOARD_UI)
    except uibuild.UIBuildError as e:
        print(f"paygate dashboard: {e}", file=sys.stderr)
        return 1
    api_url = settings.dashboard_api_url or f"http://127.0.0.1:{settings.port}"
    dashboard.serve(dist, api_url, settings.dashboard_port)
    return 0


def _ui_parts(settings: Settings) -> tuple[str, ...] | None:
    """The UI parts to run beside the back end, each built first when missing or stale; None (after one line
    saying why) when a build is impossible, before anything starts, so a missing Node.js is not a part that
    keeps dying."""
    from paygate import uibuild

    parts: tuple[str, ...] = ()
    for part, port, ui_dir, setting in (
        ("checkout", settings.checkout_port, CHECKOUT_UI, "CHECKOUT_PORT"),
        ("dashboard", settings.dashboard_port, DASHBOARD_UI, "DASHBOARD_PORT"),
    ):
        if not port:
            continue
        try:
            uibuild.ensure_built(ui_dir)
        except uibuild.UIBuildError as e:
            print(f"paygate: {e} (or set {setting}=0 to run without the {part})", file=sys.stderr)
            return None
        parts += (part,)
    return parts


def _run_all(settings: Settings) -> int:
    """Start every part as a child process and supervise them.

    Ctrl-C or SIGTERM stops the parts, then the embedded services, and exits 0. A part that dies is restarted
    with backoff; only one that dies more than SUPERVISOR_MAX_RESTARTS times within SUPERVISOR_WINDOW_S stops
    everything, with a line saying which, and exit code 1.
    """
    from paygate.supervisor import Supervisor, redis_publisher

    ui = _ui_parts(settings)
    if ui is None:
        return 1
    parts = PARTS + ui
    with embedded.services(settings.database_url, settings.redis_url, settings.data_dir) as svc:
        from paygate.database import apply_schema

        asyncio.run(apply_schema(svc.database_url))
        env = {**os.environ, "DATABASE_URL": svc.database_url, "REDIS_URL": svc.redis_url}
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

        def spawn(part: str) -> "subprocess.Popen[bytes]":
            if part not in PARTS:  # the UIs: no metrics of their own
                return _spawn(part, env)
            port = settings.metrics_port and settings.metrics_port + PARTS.index(part)
            return _spawn(part, {**env, "METRICS_PORT": str(port)})

        sup = Supervisor(
            spawn,
            parts,
            max_deaths=settings.supervisor_max_restarts,
            window_s=settings.supervisor_window_s,
            publish=redis_publisher(svc.redis_url),
        )
        checkout = f", checkout on http://localhost:{settings.checkout_port}/checkout" if settings.checkout_port else ""
        print(
            f"paygate: API on http://localhost:{settings.port} (docs at /docs){checkout}"
            + (f", dashboard on http://localhost:{settings.dashboard_port}" if "dashboard" in parts else "")
            + "; Ctrl-C stops everything",
            file=sys.stderr,
        )
        failed = sup.run(stop)
        sup.stop_all()
        if failed:
            print(
                f"paygate: stopped everything because {failed} kept dying "
                f"(more than {settings.supervisor_max_restarts} times in {settings.supervisor_window_s:.0f} s)",
                file=sys.stderr,
            )
            return 1
        return 0


def _spawn(part: str, env: dict[str, str]) -> "subprocess.Popen[bytes]":
    """A part in its own process group, so a terminal's Ctrl-C reaches only the supervisor, which then stops
    every part once and waits for it; on Linux a part also gets SIGTERM if the supervisor itself is killed."""
    return subprocess.Popen(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "paygate", part], env=env, process_group=0, preexec_fn=die_with_parent
    )


def _merchant_create(settings: Settings, database_url: str, name: str, email: str, password: str | None) -> int:
    """Print the new merchant's credentials; a one-line error and exit 2 for bad input, 1 for a conflict."""
    from api.passwords import MIN_LENGTH
    from commands.errors import DuplicateMerchant, ValidationFailed

    if password is not None and len(password) < MIN_LENGTH:
        print(f"paygate merchant create: the password must be at least {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    try:
        print(json.dumps(asyncio.run(_create_merchant(settings, database_url, name, email, password))))
    except ValidationFailed as e:
        print(f"paygate merchant create: {e.description}", file=sys.stderr)
        return 2
    except DuplicateMerchant:
        print("paygate merchant create: a merchant with this email already exists", file=sys.stderr)
        return 1
    return 0


async def _create_merchant(
    settings: Settings, database_url: str, name: str, email: str, password: str | None
) -> dict[str, str]:
    import commands
    import projections
    from api.ids import now, stamp
    from api.passwords import hash_password
    from commands import merchant
    from commands.usecases import register_merchant
    from paygate.database import apply_schema, make_pool
    from paygate.processes import install_vault

    install_vault(settings)
    await apply_schema(database_url)
    creds = {
        "id": str(uuid.uuid4()),
        "api_key": "key_live_" + secrets.token_urlsafe(12).replace("-", "a").replace("_", "b"),
        "api_secret": "secret_live_" + secrets.token_urlsafe(24).replace("-", "a").replace("_", "b"),
    }
    async with make_pool(settings, database_url, max_size=1) as pool, pool.connection() as conn:
        await register_merchant(
            commands.Session(conn, projections.project_inline, {"actor": "cli"}),
            merchant.RegisterMerchant(
                merchant_id=creds["id"],
                name=name,
                email=email,
                api_key=creds["api_key"],
                api_secret=creds["api_secret"],
                webhook_secret="whsec_" + secrets.token_hex(16),
                occurred_at=stamp(now()),
                password_hash=hash_password(password) if password is not None else None,
            ),
        )
    return creds


async def _set_password(database_url: str, email: str, password: str) -> int:
    """Record a new dashboard password (its argon2 hash) as ``merchant.password_set.v1``; exit 2 for an unknown
    email or a short password."""
    import commands
    import projections
    from api.ids import now, stamp
    from api.passwords import MIN_LENGTH, hash_password
    from commands import merchant
    from commands.handler import handle
    from paygate.database import apply_schema
    from projections import merchants

    if len(password) < MIN_LENGTH:
        print(f"paygate merchant password: the password must be at least {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    await apply_schema(database_url)
    import psycopg

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        row = await merchants.sign_in_row(conn, email)
        if row is None:
            print("paygate merchant password: no merchant has this email", file=sys.stderr)
            return 2
        session = commands.Session(conn, projections.project_inline, {"actor": "cli", "merchant_id": row["id"]})
        command = merchant.SetPassword(row["id"], hash_password(password), stamp(now()))
        async with conn.transaction():
            await handle(session, merchant, merchant.stream_id(row["id"]), command)
    print(json.dumps({"id": row["id"], "password_set": True}))
    return 0


async def _audit(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    """``paygate audit …`` (and ``rebuild``, which is ``audit replay``), as the schema owner: replay creates a
    scratch schema, and the verifier must read rows the application role could not change."""
    from audit import digest
    from paygate.database import apply_schema

    await apply_schema(database_url)
    return await audit_commands.run(
        args, database_url, lambda: digest.signing_key(settings.audit_signing_key, settings.data_dir)
    )


async def _quarantine(settings: Settings, database_url: str, redis_url: str, args: argparse.Namespace) -> int:
    """``list``: one JSON line per quarantined event. ``retry``: exit 1 if any event failed again."""
    import psycopg
    import structlog

    import projections
    from paygate.database import APP_ROLE, apply_schema, make_pool
    from projections import quarantine
    from workers import dispatcher
    from workers.actors import declare
    from workers.broker import make_broker
    from workers.runtime import Runtime

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout holds the JSON lines
    await apply_schema(database_url)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"SET ROLE {APP_ROLE}")
        if args.quarantine_command == "list":
            for row in await quarantine.listing(conn):
                print(json.dumps(row, default=str))
            return 0
        actors = declare(make_broker(redis_url), Runtime(settings, lambda: make_pool(settings, database_url)))

        async def dispatch(c: psycopg.AsyncConnection[object], event: object) -> None:
            jobs = dispatcher.coalesce(await dispatcher.follow(c, [event], settings))  # type: ignore[list-item]
            await asyncio.to_thread(dispatcher._enqueue, actors, jobs)

        appliers: dict[str, quarantine.Apply] = {m.NAME: m.apply for m in projections.ASYNC}
        appliers[dispatcher.NAME] = dispatch
        results = await quarantine.retry(conn, appliers, None if args.all else args.id)
    for row_id, error in results:
        print(json.dumps({"id": row_id, "retried": error is None, "error": error}))
    return 0 if all(error is None for _, error in results) else 1
