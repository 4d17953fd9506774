"""The API during a database outage, on a PostgreSQL cluster of the test's own: 503 with the error body and
Retry-After within about 2 s, COMMIT_UNKNOWN when a commit's outcome is lost (then the same Idempotency-Key
returns the committed answer), and a SIGTERM that lets every request in flight finish."""

import concurrent.futures
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from gatekit import backends_waiting
from harness import AUTH, Gateway, free_port, scaled
from pgcluster import Cluster, cluster

from paygate.database import apply_schema

pytestmark = [pytest.mark.slow, pytest.mark.serial]


@pytest.fixture(scope="module")
def pg() -> Iterator[Cluster]:
    with cluster() as c:
        yield c


@pytest.fixture(scope="module")
def api_only(pg: Cluster, private_redis: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Only the API (no worker is needed to create orders), on the cluster the tests restart."""
    import asyncio
    import os

    url = pg.create_database("outage")
    asyncio.run(apply_schema(url))
    logs = tmp_path_factory.mktemp("outage")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": private_redis(),
        "PORT": str(free_port()),
        "TEST_MODE": "true",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": "25",
        # One process: these tests follow its pool through a stop and a restart of the database (each process
        # meets the connections the restart cut on its own; test_api_processes.py covers several).
        "API_WORKERS": "1",
    }
    gw = Gateway(env=env, port=int(env["PORT"]), logs=logs)
    gw.start("api")
    gw.wait_healthy(worker=False)
    yield gw
    gw.close()


def create_order(
    gw: Gateway, key: str | None = None, receipt: str | None = None, timeout: float = 60
) -> httpx.Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    body = {"amount": 50000, "currency": "INR", "receipt": receipt or secrets.token_hex(6)}
    return httpx.post(f"{gw.url}/api/v1/orders", json=body, headers=headers, timeout=timeout)


def until_created(gw: Gateway, key: str, receipt: str) -> httpx.Response:
    """Retry as a merchant should (same key) until the answer is not a 503."""
    deadline = time.monotonic() + scaled(60)
    while time.monotonic() < deadline:
        r = create_order(gw, key, receipt)
        if r.status_code != 503:
            return r
        assert r.headers.get("Retry-After")
        time.sleep(0.2)
    raise AssertionError("still 503 a minute after the database came back")


def test_database_down_answers_503_fast_with_retry_after(pg: Cluster, api_only: Gateway) -> None:
    assert create_order(api_only).status_code == 201
    pg.stop("fast")
    try:
        answers = []
        for _ in range(6):
            started = time.monotonic()
            r = create_order(api_only, timeout=30)
            answers.append((r, time.monotonic() - started))
        for r, _ in answers:
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert int(r.headers["Retry-After"]) > 0
        # The first may wait out one pool timeout of the short kind; the rest know the database is down.
        assert max(took for _, took in answers[1:]) < 2 * scaled(2), [t for _, t in answers]
        assert httpx.get(f"{api_only.url}/ready", timeout=10).status_code == 503
    finally:
        pg.start()
    r = until_created(api_only, secrets.token_hex(8), "after-outage")
    assert r.status_code == 201, r.text


def _waits(pg: Cluster, dbname: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.url(dbname), autocommit=True) as c:
        return c.execute(
            "SELECT state, wait_event_type, wait_event, count(*) FROM pg_stat_activity WHERE datname = %s"
            " GROUP BY 1, 2, 3",
            (dbname,),
        ).fetchall()


def test_commit_lost_in_a_restart_is_commit_unknown_and_the_key_returns_the_committed_order(
    pg: Cluster, api_only: Gateway
) -> None:
    """A synchronous standby that never comes makes COMMIT wait after the commit is durable locally; a restart
    then cuts the connection between the commit and its answer: the real "outcome unknown" case."""
    key, receipt = f"key-{secrets.token_hex(6)}", f"r-{secrets.token_hex(6)}"
    with psycopg.connect(pg.admin_url, autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")
        admin.execute("SELECT pg_reload_conf()")
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        pending = ex.submit(create_order, api_only, key, receipt)
        deadline = time.monotonic() + scaled(30)
        while backends_waiting(pg.url("outage"), "SyncRep") == 0:
            assert time.monotonic() < deadline, "the create never reached its COMMIT"
            assert not pending.done(), pending.result().text
            time.sleep(0.05)
        with psycopg.connect(pg.admin_url, autocommit=True) as admin:
            admin.execute("ALTER SYSTEM RESET synchronous_standby_names")  # read at the next start, not now
        pg.restart("fast")
        first = pending.result()
    assert first.status_code == 503, first.text
    assert first.json()["error"]["code"] == "COMMIT_UNKNOWN"
    assert first.headers["Retry-After"]

    again = until_created(api_only, key, receipt)
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"  # the committed answer, not a second order
    with psycopg.connect(pg.url("outage"), autocommit=True) as c:
        rows = c.execute("SELECT id FROM orders WHERE receipt = %s", (receipt,)).fetchall()
    assert [r[0] for r in rows] == [again.json()["id"]]


def test_sigterm_finishes_every_request_in_flight(pg: Cluster, api_only: Gateway, tmp_path: Path) -> None:
    """20 creates are held inside the database (a table lock), SIGTERM arrives, the lock goes: all 20 answer."""
    locker = psycopg.connect(pg.url("outage"))
    locker.execute("LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE")
    proc = api_only.procs["api"]
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        futures = [ex.submit(create_order, api_only, f"drain-{secrets.token_hex(6)}") for _ in range(20)]
        deadline = time.monotonic() + scaled(30)
        while backends_waiting(pg.url("outage"), "relation") < 20:
            assert time.monotonic() < deadline, f"the 20 requests never reached the database: {_waits(pg, 'outage')}"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        # Stopped accepting: a new connection is refused while the 20 are still held.
        deadline = time.monotonic() + scaled(10)
        while True:
            try:
                httpx.get(f"{api_only.url}/health", timeout=1)
            except httpx.HTTPError:
                break
            assert time.monotonic() < deadline, "still accepting after SIGTERM"
            time.sleep(0.05)
        locker.rollback()
        locker.close()
        answers = [f.result() for f in futures]
    assert [r.status_code for r in answers] == [201] * 20, [r.text for r in answers if r.status_code != 201]
    # uvicorn ends by re-raising the SIGTERM it handled, after the drain, so the exit status says SIGTERM.
    assert proc.wait(scaled(30)) in (0, -signal.SIGTERM)
    api_only.procs.pop("api")
