"""Helpers of the secrets, production-mode and brute-force tests: a gateway of their own, clients from other
loopback addresses, merchants made with the operator's command, and a scan of every table for a text."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from harness import Gateway as Gateway
from harness import free_port as free_port
from harness import start_gateway as start_gateway
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY, TEST_SECRET, TEST_WEBHOOK_SECRET = "key_test_abc123", "secret_test_xyz789", "whsec_test_abc123"
AUTH = {"X-Api-Key": TEST_KEY, "X-Api-Secret": TEST_SECRET}


def client(base_url: str, source: str = "127.0.0.1", **headers: str) -> httpx.Client:
    """An HTTP client whose connections come from ``source`` (any 127.0.0.0/8 address reaches the server)."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base_url, transport=transport, headers=headers, timeout=10)


def new_merchant(env: dict[str, str], name: str = "Vault Shop") -> dict[str, str]:
    """Register a merchant with the operator's command; its id and credentials (shown this once)."""
    email = f"{name.lower().replace(' ', '-')}-{os.urandom(4).hex()}@example.com"
    done = subprocess.run(
        [sys.executable, "-m", "paygate", "merchant", "create", "--name", name, "--email", email],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    creds: dict[str, str] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return creds


def tables_holding(database_url: str, *needles: str) -> dict[str, list[str]]:
    """For each needle, the tables (events included) where some row's text contains it."""
    found: dict[str, list[str]] = {n: [] for n in needles}
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
            ).fetchall()
        ]
        for table in tables:
            query = sql.SQL("SELECT count(*) FROM {} t WHERE t::text LIKE %s").format(sql.Identifier(table))
            for needle in needles:
                row = conn.execute(query, (f"%{needle}%",)).fetchone()
                if row and row[0]:
                    found[needle].append(table)
    return found


def wait_exit(proc: "subprocess.Popen[bytes]", timeout: float = 60) -> int:
    """The exit code of a process expected to stop by itself."""
    return proc.wait(timeout)


@contextmanager
def app_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def until(deadline_epoch: float) -> None:
    """Wait until the wall clock passes ``deadline_epoch`` (what an expiry time is compared with)."""
    while time.time() <= deadline_epoch:
        time.sleep(min(0.2, max(0.01, deadline_epoch - time.time() + 0.01)))
