"""`paygate run` restarts a part that died and reports it in /health; it stops everything only for a part that
keeps dying, and says which."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from harness import ROOT, free_port, scaled

from paygate.supervisor import Supervisor
from workers.jobs import PARTS_KEY

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def paygate_run(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "TEST_MODE": "true",
        "TEST_PROCESSING_DELAY": "0",
        "LOG_LEVEL": "WARNING",
        "CHECKOUT_PORT": "0",  # the UIs have tests of their own (tests/browser)
        "DASHBOARD_PORT": "0",
    }
    log = tmp_path / "run.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "paygate", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def health(url: str) -> dict[str, Any]:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        body: dict[str, Any] = httpx.get(f"{url}/health", timeout=5).json()
        return body
    return {}


def poll(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_part_is_restarted_and_shown_restarting(
    tmp_path: Path, fresh_database: Any, private_redis: Any
) -> None:
    redis_url = private_redis()
    client = redis.Redis.from_url(redis_url)
    with paygate_run(tmp_path, fresh_database(), redis_url) as (proc, url):
        poll("healthy", lambda: health(url).get("status") == "healthy", timeout=90)
        before = json.loads(client.hget(PARTS_KEY, "dispatcher") or b"{}")
        assert before["state"] == "running" and before["restarts"] == 0
        os.kill(before["pid"], signal.SIGKILL)
        seen = poll("dispatcher restarting", lambda: health(url).get("parts", {}).get("dispatcher", {}).get("state"))
        after = poll(
            "dispatcher restarted",
            lambda: (
                (s := json.loads(client.hget(PARTS_KEY, "dispatcher") or b"{}")).get("restarts") == 1
                and s["state"] == "running"
                and s
            ),
        )
        assert after["pid"] != before["pid"]
        body = poll("healthy again", lambda: (b := health(url)).get("status") == "healthy" and b)
        assert body["parts"]["dispatcher"] == {"state": "running", "restarts": 1}
        assert seen in ("restarting", "running")
        assert proc.poll() is None  # the rest went on running


def test_a_part_that_keeps_dying_stops_everything_and_says_which() -> None:
    def spawn(part: str) -> "subprocess.Popen[bytes]":
        code = "import sys; sys.exit(3)" if part == "flaky" else "import time; time.sleep(120)"
        return subprocess.Popen([sys.executable, "-c", code])

    states: list[dict[str, Any]] = []
    sup = Supervisor(spawn, ("steady", "flaky"), max_deaths=2, window_s=60, publish=states.append)
    try:
        failed = sup.run(threading.Event())
    finally:
        sup.stop_all(timeout=5)
    assert failed == "flaky"
    assert any(s["flaky"]["state"] == "restarting" for s in states)
    assert max(s["flaky"]["restarts"] for s in states) == 2
    assert all(s["steady"]["restarts"] == 0 for s in states)
