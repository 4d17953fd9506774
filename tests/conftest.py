"""Real services for every test: the machine's PostgreSQL and Redis when reachable, else embedded ones.

Each test session gets a fresh database and its own Redis database number, so runs never see each other.
"""

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
TEST_KEY, TEST_SECRET = "key_test_abc123", "secret_test_xyz789"
AUTH = {"X-Api-Key": TEST_KEY, "X-Api-Secret": TEST_SECRET}


def _reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def scaled(seconds: float) -> float:
    """A deadline stretched by how loaded the machine is (load average per core above 1), so waits that are
    ample on a quiet machine still hold on a busy CI runner."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * max(1.0, load)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Servers:
    """Admin URL of the PostgreSQL server and base URL of the Redis server the tests use."""

    pg_admin_url: str
    redis_base: str
    embedded: bool


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pg = os.environ.get("TEST_PG_ADMIN_URL")
    rd = os.environ.get("TEST_REDIS_BASE")
    if pg is None and _reachable("127.0.0.1", 5432):
        pg = "postgresql://postgres@127.0.0.1:5432/postgres"
    if rd is None and _reachable("127.0.0.1", 6379):
        rd = "redis://127.0.0.1:6379"
    if pg and rd:
        yield Servers(pg, rd, embedded=False)
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


# ---------------------------------------------------------------- the whole system as real processes


@dataclass
class Gateway:
    """API, workers, dispatcher and projector running as separate processes, as in production."""

    env: dict[str, str]
    port: int
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, part: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{part}.log", "ab")  # noqa: SIM115 -- closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "paygate", part, *args], env=self.env, cwd=ROOT, stdout=log, stderr=log
        )
        self.procs[part] = proc
        return proc

    def start_named(self, name: str, part: str, *args: str) -> subprocess.Popen[bytes]:
        """Start one more instance of ``part`` (a second worker, say), known and logged as ``name``."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 -- closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "paygate", part, *args], env=self.env, cwd=ROOT, stdout=log, stderr=log
        )
        self.procs[name] = proc
        return proc

    def kill(self, part: str) -> None:
        """SIGKILL a part: no clean-up runs, as in a crash."""
        proc = self.procs.pop(part)
        proc.kill()
        proc.wait(10)

    def stop(self, part: str) -> None:
        proc = self.procs.pop(part)
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def wait_healthy(self, timeout: float = 60, worker: bool = True) -> None:
        """Poll /ready (then /health, for the workers) until the gateway serves; the deadline grows with the
        machine's load, and a part that exits fails the wait at once with its log."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    log = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise AssertionError(f"{name} exited with {proc.returncode} while starting:\n{log}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if httpx.get(f"{self.url}/ready", timeout=5).status_code == 200:
                    last = httpx.get(f"{self.url}/health", timeout=5).json()
                    if last.get("database") == "connected" and (last.get("status") == "healthy" or not worker):
                        return
            time.sleep(0.2)
        raise AssertionError(f"gateway not healthy in {timeout:.0f}s: {last}; logs in {self.logs}")

    def close(self) -> None:
        for part in list(self.procs):
            self.stop(part)


def start_gateway(tmp_path: Path, database_url: str, redis_url: str, **env: str) -> Gateway:
    """Start every part with test-mode settings (overridable through ``env``) and wait until healthy."""
    port = free_port()
    full = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "TEST_MODE": "true",
        "TEST_PROCESSING_DELAY": "0",
        "LOG_LEVEL": "WARNING",
        # Many tests send wrong credentials on purpose, all from 127.0.0.1: tests/security sets the real limit.
        "AUTH_FAILURES_PER_MINUTE": "100000",
        **env,
    }
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    gw = Gateway(env=full, port=port, logs=logs)
    for part in ("api", "worker", "dispatcher", "projector"):
        gw.start(part)
    try:
        gw.wait_healthy()
    except AssertionError:
        gw.close()
        raise
    return gw


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


#: Redis database numbers private gateways may claim; 0 and the 9–14 of ``redis_url`` are left alone.
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
        for n in _CLAIMABLE:
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
