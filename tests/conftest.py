"""Real services for every test: the machine's PostgreSQL and Redis when reachable, else embedded ones.

Each test session gets a fresh database and its own Redis database number, so runs never see each other.
"""

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from harness import AUTH, ROOT, TEST_KEY, TEST_SECRET, Gateway, _reachable, free_port, scaled, start_gateway

__all__ = ["AUTH", "ROOT", "TEST_KEY", "TEST_SECRET", "Gateway", "free_port", "scaled", "start_gateway"]


@contextlib.contextmanager
def _own_redis(folder: Path) -> Iterator[str]:
    """A redis-server of this session's own, with databases enough for every private gateway the suite starts,
    and no other session or process contending for them."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--databases",
            str(_DATABASES),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + scaled(30)
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            assert proc.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server never answered PING"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


@dataclass(frozen=True)
class Servers:
    """Admin URL of the PostgreSQL server and base URL of the Redis server the tests use."""

    pg_admin_url: str
    redis_base: str
    embedded: bool
    own_redis: bool = False


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pg = os.environ.get("TEST_PG_ADMIN_URL")
    rd = os.environ.get("TEST_REDIS_BASE")
    if pg is None and _reachable("127.0.0.1", 5432):
        pg = "postgresql://postgres@127.0.0.1:5432/postgres"
    with contextlib.ExitStack() as stack:
        own = rd is None and shutil.which("redis-server") is not None
        if own:
            rd = stack.enter_context(_own_redis(tmp_path_factory.mktemp("redis")))
        elif rd is None and _reachable("127.0.0.1", 6379):
            rd = "redis://127.0.0.1:6379"
        if pg and rd:
            yield Servers(pg, rd, embedded=False, own_redis=own)
            return
    from paygate import embedded

    data = ROOT / ".data" / "test-services"
    with embedded.services(pg, None if rd is None else rd + "/0", data) as svc:
        yield Servers(pg or svc.database_url, rd or svc.redis_url.rsplit("?", 1)[0], embedded=True)


def _with_db(url: str, name: str) -> str:
    """``url`` pointed at database ``name`` (works for host and socket URLs alike)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


@pytest.fixture(scope="session")
def database_url(servers: Servers) -> Iterator[str]:
    """A fresh database with schema.sql applied, dropped after the session."""
    name = f"paygate_test_{secrets.token_hex(4)}"
    with psycopg.connect(servers.pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(servers.pg_admin_url, name)
    import asyncio

    from paygate.database import apply_schema

    asyncio.run(apply_schema(url))
    yield url
    with psycopg.connect(servers.pg_admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url(private_redis: Any) -> str:
    """A Redis database this session alone uses (claimed, so concurrent sessions never share one)."""
    url: str = private_redis()
    return url


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Any:
    from paygate.settings import Settings

    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        test_mode=True,
        test_processing_delay=0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session", autouse=True)
def server_key() -> None:
    """In-process code seals and opens secrets with the key the gateway processes use (DATA_DIR under ROOT)."""
    from ledger import vault

    vault.install(vault.load_server_key(None, ROOT / ".data", production=False))


@pytest.fixture(scope="session")
async def pool(settings: Any) -> AsyncIterator[Any]:
    """A pool of application-role connections, as the API and workers use."""
    from paygate.database import make_pool

    async with make_pool(settings, settings.database_url, max_size=20, name="tests") as p:
        yield p


@pytest.fixture
async def conn(pool: Any) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with pool.connection() as c:
        yield c


@pytest.fixture
async def session(conn: psycopg.AsyncConnection[Any]) -> Any:
    import commands
    import projections

    return commands.Session(conn, projections.project_inline, {"actor": "test"})


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str) -> Iterator[Gateway]:
    """One running system shared by the contract tests (test mode, no processing delay)."""
    redis.Redis.from_url(redis_url).flushdb()
    gw = start_gateway(tmp_path_factory.mktemp("gateway"), database_url, redis_url)
    yield gw
    gw.close()


@pytest.fixture
def api(gateway: Gateway) -> Iterator[httpx.Client]:
    """An HTTP client on the shared gateway, authenticated as the seeded test merchant."""
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as client:
        yield client


# ---------------------------------------------------------------- isolation for tests that need a world of their own


def _create_database(servers: Servers) -> str:
    """A new database with schema.sql applied (synchronously, so async tests may call it too)."""
    from paygate.database import schema_sql

    name = f"paygate_test_{secrets.token_hex(4)}"
    with psycopg.connect(servers.pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(servers.pg_admin_url, name)
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7400001)")
        conn.execute(schema_sql())  # type: ignore[arg-type]
    return url


@pytest.fixture(scope="session")
def fresh_database(servers: Servers) -> Iterator[Any]:
    """A factory of fresh databases (schema applied), for tests that count or scan the whole store; all dropped
    at the end of the session."""
    made: list[str] = []

    def make() -> str:
        url = _create_database(servers)
        made.append(url)
        return url

    yield make
    with psycopg.connect(servers.pg_admin_url, autocommit=True) as admin:
        for url in made:
            name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: Databases of the session's own redis-server; on a shared server only the 16 it has by default.
_DATABASES = 256
#: Redis database numbers private gateways may claim (0 holds the claims), on a shared server and on our own.
_CLAIMABLE = (2, 3, 4, 5, 6, 7, 8, 15)


@pytest.fixture(scope="session")
def private_redis(servers: Servers) -> Iterator[Any]:
    """A factory of Redis URLs no other gateway uses: each claims an empty database number (claims live in db 0,
    so flushing a claimed database keeps its claim), released and flushed at the end of the session."""
    token = secrets.token_hex(8)
    unix = servers.redis_base.startswith("unix://")
    registry = redis.Redis.from_url(servers.redis_base if unix else f"{servers.redis_base}/0")
    claimed: list[tuple[int, str]] = []

    def claim() -> str:
        for n in range(1, _DATABASES) if servers.own_redis else _CLAIMABLE:
            url = f"{servers.redis_base}?db={n}" if unix else f"{servers.redis_base}/{n}"
            if not registry.set(f"paygate-tests:claim:{n}", token, nx=True, ex=3600):
                continue
            if redis.Redis.from_url(url).dbsize() == 0:
                claimed.append((n, url))
                return url
            registry.delete(f"paygate-tests:claim:{n}")
        raise AssertionError("no free Redis database to claim")

    yield claim
    for n, url in claimed:
        redis.Redis.from_url(url).flushdb()
        if registry.get(f"paygate-tests:claim:{n}") == token.encode():
            registry.delete(f"paygate-tests:claim:{n}")
