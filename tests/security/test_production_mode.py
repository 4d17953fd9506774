"""Issue 7, item 3: PAYGATE_ENV=production refuses a missing or default signing key and the test merchant's
published credentials, and serves no /api/v1/test/*."""

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from secretkit import AUTH, client, new_merchant, wait_exit

pytestmark = pytest.mark.slow

KEY = secrets.token_urlsafe(40)


def api_alone(tmp_path: Path, url: str, redis_url: str, **env: str) -> Any:
    """A gateway with only its API part started (the one that refuses), not yet waited on."""
    from conftest import Gateway, free_port

    port = free_port()
    full = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "TEST_MODE": "true",
        "TEST_PROCESSING_DELAY": "0",
        **env,
    }
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    gw = Gateway(env=full, port=port, logs=logs)
    gw.start("api")
    return gw


@pytest.mark.parametrize("key", [None, "change-me", "compose-development-signing-key-change-me", "short-but-set"])
def test_production_refuses_a_missing_or_default_signing_key(
    key: str | None, tmp_path: Path, fresh_database: Callable[[], str], private_redis: Any
) -> None:
    env = {"PAYGATE_ENV": "production"} | ({} if key is None else {"SIGNING_KEY": key})
    gw = api_alone(tmp_path, fresh_database(), private_redis(), **env)
    assert wait_exit(gw.procs["api"]) != 0
    assert "SIGNING_KEY" in (gw.logs / "api.log").read_text()


def test_production_refuses_to_start_while_the_test_credentials_authenticate(
    tmp_path: Path, fresh_database: Callable[[], str], private_redis: Any
) -> None:
    from conftest import start_gateway

    url, rd = fresh_database(), private_redis()
    for part in ("dev", "prod", "dev2", "prod2"):
        (tmp_path / part).mkdir()
    dev = start_gateway(tmp_path / "dev", url, rd, SIGNING_KEY=KEY, API_KEY_GRACE_S="0")
    with client(dev.url, **AUTH) as api:
        assert api.get("/api/v1/orders").status_code == 200  # development seeds the test merchant
    dev.close()

    prod = api_alone(tmp_path / "prod", url, rd, PAYGATE_ENV="production", SIGNING_KEY=KEY)
    assert wait_exit(prod.procs["api"]) != 0
    assert "test merchant's credentials" in (prod.logs / "api.log").read_text()

    # The way out: rotate the test merchant's key (here with no grace period); production then starts.
    dev = start_gateway(tmp_path / "dev2", url, rd, SIGNING_KEY=KEY, API_KEY_GRACE_S="0")
    with client(dev.url, **AUTH) as api:
        assert api.post("/api/v1/keys/rotate").status_code == 200
    dev.close()
    prod = start_gateway(tmp_path / "prod2", url, rd, PAYGATE_ENV="production", SIGNING_KEY=KEY)
    try:
        with client(prod.url, **AUTH) as api:
            assert api.get("/api/v1/orders").status_code == 401
    finally:
        prod.close()


def test_production_serves_no_test_endpoints_and_seeds_no_test_merchant(
    tmp_path: Path, fresh_database: Callable[[], str], private_redis: Any
) -> None:
    from conftest import start_gateway

    url = fresh_database()
    gw = start_gateway(tmp_path, url, private_redis(), PAYGATE_ENV="production", SIGNING_KEY=KEY)
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
            assert api.post("/api/v1/orders", json={"amount": 50000}).status_code == 201
    finally:
        gw.close()


def test_development_still_serves_the_test_endpoints(gateway: Any) -> None:
    with client(gateway.url) as anon:
        assert anon.get("/api/v1/test/merchant").json()["api_key"] == AUTH["X-Api-Key"]
