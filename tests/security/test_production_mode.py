"""Issue 7, item 3: PAYGATE_ENV=production refuses a missing or default signing key and the test merchant's
published credentials, and serves no /api/v1/test/*."""

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from secretkit import AUTH, Gateway, client, free_port, new_merchant, wait_exit

pytestmark = pytest.mark.slow

KEY = secrets.token_urlsafe(40)


def api_alone(tmp_path: Path, url: str, redis_url: str, **env: str) -> Any:
    """A gateway with only its API part started (the part that refuses), not yet waited on. The API alone
    enqueues no job, so it may share the session's Redis database instead of claiming one of the few free."""
    port = free_port()
    full = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "TEST_MODE": "true",
        "TEST_PROCESSING_DELAY": "0",
        "AUTH_FAILURES_PER_MINUTE": "100000",  # the shared Redis also counts the other tests' failures
        **env,
    }
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    gw = Gateway(env=full, port=port, logs=logs)
    gw.start("api")
    return gw


def started(tmp_path: Path, url: str, redis_url: str, **env: str) -> Any:
    gw = api_alone(tmp_path, url, redis_url, **env)
    try:
        gw.wait_healthy(timeout=60, worker=False)
    except AssertionError:
        gw.close()
        raise
    return gw


@pytest.mark.parametrize("key", [None, "change-me", "compose-development-signing-key-change-me", "short-but-set"])
def test_production_refuses_a_missing_or_default_signing_key(
    key: str | None, tmp_path: Path, fresh_database: Callable[[], str], redis_url: str
) -> None:
    env = {"PAYGATE_ENV": "production"} | ({} if key is None else {"SIGNING_KEY": key})
    gw = api_alone(tmp_path, fresh_database(), redis_url, **env)
    assert wait_exit(gw.procs["api"]) != 0
    assert "SIGNING_KEY" in (gw.logs / "api.log").read_text()


def test_production_refuses_to_start_while_the_test_credentials_authenticate(
    tmp_path: Path, fresh_database: Callable[[], str], redis_url: str
) -> None:
    url, rd = fresh_database(), redis_url
    for part in ("dev", "prod", "dev2", "prod2"):
        (tmp_path / part).mkdir()
    dev = started(tmp_path / "dev", url, rd, SIGNING_KEY=KEY, API_KEY_GRACE_S="0")
    with client(dev.url, **AUTH) as api:
        assert api.get("/api/v1/orders").status_code == 200  # development seeds the test merchant
    dev.close()

    prod = api_alone(tmp_path / "prod", url, rd, PAYGATE_ENV="production", SIGNING_KEY=KEY)
    assert wait_exit(prod.procs["api"]) != 0
    assert "test merchant's credentials" in (prod.logs / "api.log").read_text()

    # The way out: rotate the test merchant's key (here with no grace period); production then starts.
    dev = started(tmp_path / "dev2", url, rd, SIGNING_KEY=KEY, API_KEY_GRACE_S="0")
    with client(dev.url, **AUTH) as api:
        assert api.post("/api/v1/keys/rotate").status_code == 200
    dev.close()
    prod = started(tmp_path / "prod2", url, rd, PAYGATE_ENV="production", SIGNING_KEY=KEY)
    try:
        with client(prod.url, **AUTH) as api:
            assert api.get("/api/v1/orders").status_code == 401
    finally:
        prod.close()


def test_production_serves_no_test_endpoints_and_seeds_no_test_merchant(
    tmp_path: Path, fresh_database: Callable[[], str], redis_url: str
) -> None:
    url = fresh_database()
    gw = started(tmp_path, url, redis_url, PAYGATE_ENV="production", SIGNING_KEY=KEY)
    try:
        with client(gw.url) as anon:
            for path in ("/api/v1/test/merchant", "/api/v1/test/jobs/status"):
                answer = anon.get(path)
                assert answer.status_code == 404, path
                assert answer.json()["error"]["code"] == "NOT_FOUND_ERROR"
            assert anon.get("/health").status_code == 200
        with client(gw.url, **AUTH) as api:
            assert api.get("/api/v1/orders").status_code == 401
        shop = new_merchant({"DATABASE_URL": url, "PAYGATE_ENV": "production", "SIGNING_KEY": KEY})
        with client(gw.url, **{"X-Api-Key": shop["api_key"], "X-Api-Secret": shop["api_secret"]}) as api:
            assert api.get("/api/v1/orders").status_code == 200
    finally:
        gw.close()


def test_development_still_serves_the_test_endpoints(gateway: Any) -> None:
    with client(gateway.url) as anon:
        assert anon.get("/api/v1/test/merchant").json()["api_key"] == AUTH["X-Api-Key"]
