"""The long-running parts, each runnable alone: API, workers, dispatcher (with sweeper), projector."""

import asyncio
import gc
import os
import signal
import threading
from functools import partial
from typing import Any

import uvloop

from api.logging import configure
from ledger import vault
from paygate import serving
from paygate.database import apply_schema, make_pool
from paygate.protocol import BoundedHttpToolsProtocol
from paygate.settings import Settings
from workers.metrics import serve as serve_metrics


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def freeze_startup_heap() -> None:
    """Keep what start-up made (modules, the broker, pools) out of the garbage collector's sight: it lives as
    long as the process, and a full collection then takes microseconds instead of tens of milliseconds."""
    gc.collect()
    gc.freeze()


def install_vault(settings: Settings) -> None:
    """This process's server key (refused in production when missing or a placeholder)."""
    vault.install(vault.load_server_key(settings.signing_key, settings.data_dir, production=settings.production))


#: How the API is served, whatever its host, port and process count (``bench/levers.py`` serves it so to count it).
API_SERVING: dict[str, Any] = {
    "log_level": "warning",
    "log_config": None,  # uvicorn's lines go through our JSON logging (api.logging.configure)
    "access_log": False,
    "loop": "uvloop",
    "http": BoundedHttpToolsProtocol,  # httptools, with request heads capped (431)
    "backlog": 4096,
}


def api(settings: Settings, database_url: str, redis_url: str) -> None:
    configure(settings.log_level)
    install_vault(settings)  # fail here, before uvicorn starts, on a missing or default production key
    asyncio.run(apply_schema(database_url))
    # uvicorn's worker processes build the app from the environment (paygate.asgi).
    os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
    if settings.api_workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Several processes answer /metrics in turn: each writes its figures where any of them can add them up.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="paygate-metrics-")
    serving.run(
        "paygate.asgi:app",
        host="0.0.0.0",  # noqa: S104 -- a server: reachable from outside its container
        port=settings.port,
        workers=settings.api_workers,
        # SIGTERM: stop accepting, let requests in flight finish (at most this long), then exit.
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) or None,
        **API_SERVING,
    )


def worker(settings: Settings, database_url: str, redis_url: str, queues: list[str]) -> None:
    import dramatiq

    from workers.actors import declare
    from workers.broker import make_broker
    from workers.runtime import Runtime

    configure(settings.log_level)
    install_vault(settings)  # webhook deliveries are signed with the merchant's decrypted secret
    asyncio.run(apply_schema(database_url))
    serve_metrics(settings.metrics_port)
    # The AsyncIO middleware's event loop, where async actors and webhook deliveries run, comes from the
    # policy: uvloop, as under uvicorn, for the cheaper socket I/O.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    broker = make_broker(redis_url, poll_ms=settings.worker_idle_ms)
    declare(broker, Runtime(settings, partial(make_pool, settings, database_url, name="worker")))
    # The timeout only bounds how long a thread with nothing to do takes to notice a stop: eight threads waking
    # ten times a second were half of an idle worker's CPU. Consumers keep polling at worker_idle_ms.
    w = dramatiq.Worker(broker, queues=set(queues), worker_threads=settings.worker_threads, worker_timeout=1000)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    freeze_startup_heap()
    w.start()
    done.wait()
    w.stop(timeout=10_000)


def dispatcher(settings: Settings, database_url: str, redis_url: str) -> None:
    from api import idempotency
    from api.ids import now
    from workers import dispatcher as dispatch
    from workers import retries, sweeper
    from workers.actors import declare
    from workers.broker import make_broker
    from workers.runtime import Runtime

    configure(settings.log_level)
    serve_metrics(settings.metrics_port)

    async def main() -> None:
        await apply_schema(database_url)
        broker = make_broker(redis_url)
        actors = declare(broker, Runtime(settings, partial(make_pool, settings, database_url)))
        stop = _stop_event()
        async with make_pool(settings, database_url, max_size=6, name="dispatcher") as pool:
            freeze_startup_heap()
            await asyncio.gather(
                dispatch.run(pool, actors, settings, stop),
                sweeper.run(pool, actors, settings, stop),
                retries.run(pool, actors, settings, stop),
                idempotency.purge_periodically(pool, stop, now),
            )

    uvloop.run(main())


def projector(settings: Settings, database_url: str) -> None:
    import projections
    from ledger import chain
    from projections import runner

    configure(settings.log_level)
    serve_metrics(settings.metrics_port)

    async def main() -> None:
        await apply_schema(database_url)
        stop = _stop_event()
        # The chainer leads its own lock on a leader connection of its own: 2 leaders + their batch connections.
        async with make_pool(settings, database_url, max_size=5, name="projector") as pool:
            freeze_startup_heap()
            await asyncio.gather(runner.run(pool, projections.ASYNC, stop), chain.run(pool, stop))

    uvloop.run(main())
