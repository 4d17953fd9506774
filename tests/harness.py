"""What tests share besides fixtures: the test merchant, load-scaled deadlines, free ports, and the whole
gateway as real processes. Imported as ``harness`` (``tests/`` is on the path): a module named ``conftest``
would be whichever conftest pytest loaded last."""

import contextlib
import itertools
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

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


#: Ports handed out below the kernel's ephemeral range (32768+), where outgoing connections take theirs: a
#: port the kernel picked for us and we then released could be another process's before our server binds it.
_PORTS_FROM, _PORTS_PER_WORKER = 20000, 1500
_next_port = itertools.count(random.randrange(_PORTS_PER_WORKER))


def free_port() -> int:
    """A port free now that no other test process hands out: each pytest-xdist worker cycles through a range
    of its own, so two workers never pick the same port for servers they are about to start."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = _PORTS_FROM + (int(worker) if worker.isdigit() else 0) % 8 * _PORTS_PER_WORKER
    for _ in range(_PORTS_PER_WORKER):
        port = base + next(_next_port) % _PORTS_PER_WORKER
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {base}-{base + _PORTS_PER_WORKER - 1}")


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


def create_merchant(env: dict[str, str], name: str, password: str) -> dict[str, str]:
    """A new merchant with a dashboard password, made by ``paygate merchant create`` against the gateway of
    ``env``: its printed credentials (id, api_key, api_secret, ...) and its email."""
    email = f"{name.lower().replace(' ', '-')}-{secrets.token_hex(4)}@example.com"
    command = ["merchant", "create", "--name", name, "--email", email, "--password", password]
    done = subprocess.run(
        [sys.executable, "-m", "paygate", *command],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    creds: dict[str, str] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return creds | {"email": email}
