"""``paygate merchant create``: credentials as JSON, or a one-line error with exit 2 (bad input) or 1 (conflict)."""

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from gatekit import ROOT


def create(env: dict[str, str], name: str, email: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paygate", "merchant", "create", "--name", name, "--email", email],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def env(fresh_database: Any, private_redis: Any) -> dict[str, str]:
    return {"DATABASE_URL": fresh_database(), "REDIS_URL": private_redis(), "LOG_LEVEL": "WARNING"}


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.stdout == "", done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_a_new_merchant_gets_its_credentials(env: dict[str, str]) -> None:
    done = create(env, "Shop", "shop@example.com")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == {"id", "api_key", "api_secret"}


def test_an_email_already_taken_is_a_conflict(env: dict[str, str]) -> None:
    assert create(env, "First", "taken@example.com").returncode == 0
    done = create(env, "Second", "taken@example.com")
    assert done.returncode == 1
    assert "already exists" in one_line_error(done)


@pytest.mark.parametrize(
    ("name", "email", "field"),
    [("", "a@example.com", "name"), ("  ", "b@example.com", "name"), ("Shop", "notanemail", "email")],
)
def test_bad_input_is_exit_code_2(env: dict[str, str], name: str, email: str, field: str) -> None:
    done = create(env, name, email)
    assert done.returncode == 2
    assert one_line_error(done).startswith(f"paygate merchant create: {field} must be")
