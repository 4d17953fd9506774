"""Starting up: API processes starting together seed the test merchant once; a missing Redis is reported by
/health, and payments are still taken (the broker is a transport, not the store of record)."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from gatekit import AUTH, ROOT, free_port, new_order, new_payment, poll

pytestmark = pytest.mark.slow


class Apis:
    """API processes of one database, each on a port of its own."""

    def __init__(self, folder: Path, database_url: str, redis_url: str) -> None:
        self.folder = folder
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "TEST_MODE": "true"}
        self.procs: list[tuple[subprocess.Popen[bytes], str]] = []

    def start(self, count: int) -> list[str]:
        started = []
        for i in range(count):
            port = free_port()
            log = open(self.folder / f"api-{len(self.procs)}-{i}.log", "ab")  # noqa: SIM115 -- lives with the process
            proc = subprocess.Popen(
                [sys.executable, "-m", "paygate", "api"],
                env={**self.env, "PORT": str(port)},
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
            url = f"http://127.0.0.1:{port}"
            self.procs.append((proc, url))
            started.append(url)
        return started

    def close(self) -> None:
        for proc, _ in self.procs:
            proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def apis(tmp_path: Path) -> Iterator[Callable[[str, str], Apis]]:
    made: list[Apis] = []

    def make(database_url: str, redis_url: str) -> Apis:
        made.append(Apis(tmp_path, database_url, redis_url))
        return made[-1]

    yield make
    for a in made:
        a.close()


def health(url: str) -> dict[str, str] | None:
    try:
        body: dict[str, str] = httpx.get(f"{url}/health", timeout=2).json()
        return body
    except httpx.HTTPError:
        return None


def test_api_processes_starting_together_seed_the_test_merchant_once(
    apis: Callable[[str, str], Apis], fresh_database: Callable[[], str], private_redis: Callable[[], str]
) -> None:
    database_url = fresh_database()
    urls = apis(database_url, private_redis()).start(3)
    for url in urls:
        poll(lambda url=url: health(url), lambda h: h is not None and h["database"] == "connected", 60, "the API")
        r = httpx.get(f"{url}/api/v1/test/merchant", timeout=5)
        assert r.status_code == 200 and r.json()["seeded"] is True
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'merchant.registered.v2'").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM merchants").fetchone() == (1,)


def test_without_redis_health_says_so_and_payments_are_still_taken(
    apis: Callable[[str, str], Apis], fresh_database: Callable[[], str]
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    (url,) = apis(fresh_database(), nowhere).start(1)
    body = poll(lambda: health(url), lambda h: h is not None, 60, "the API")
    assert (body["database"], body["redis"], body["worker"]) == ("connected", "disconnected", "stopped")
    assert body["status"] != "healthy" and "timestamp" in body
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as api:
        payment = new_payment(api, new_order(api)["id"])
        assert api.get(f"/api/v1/payments/{payment['id']}").json()["status"] == "pending"
