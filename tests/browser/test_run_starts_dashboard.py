"""`paygate run` (what `make run` runs) builds when needed and serves the dashboard beside the API."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashkit import ROOT
from gatekit import free_port, poll
from payflow import own_redis

pytestmark = pytest.mark.slow


def test_paygate_run_serves_the_dashboard_on_its_port(tmp_path: Path, fresh_database: Any) -> None:
    port, dash_port = free_port(), free_port()
    with own_redis(tmp_path / "redis") as redis_url:
        env = {
            **os.environ,
            "DATABASE_URL": fresh_database(),
            "REDIS_URL": redis_url,
            "PORT": str(port),
            "DASHBOARD_PORT": str(dash_port),
            "TEST_MODE": "true",
            "LOG_LEVEL": "WARNING",
        }
        log = tmp_path / "run.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "paygate", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        base = f"http://127.0.0.1:{dash_port}"

        def signed_in() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.post(
                    f"{base}/api/v1/dashboard/login",
                    timeout=5,
                    json={"email": "test@example.com", "password": "anything"},
                )
                return answer.status_code == 200
            return False

        try:
            poll(signed_in, bool, 240, "the dashboard and the API behind it")
            page = httpx.get(f"{base}/login")
            assert page.status_code == 200 and '<div id="root">' in page.text
            assert "dashboard on http://localhost:" in log.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
