"""Issue 7, item 7: failed authentications are limited per key and per client address, across API processes
(Redis), with 429 and Retry-After; the right secret from an address that did not fail still gets in."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from secretkit import AUTH, TEST_KEY, Gateway, client, free_port, new_merchant, start_gateway

pytestmark = pytest.mark.slow

WRONG = {"X-Api-Key": TEST_KEY, "X-Api-Secret": "secret_wrong_guess"}


@pytest.fixture(scope="module")
def two_apis(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: Callable[[], str], private_redis: Any
) -> Iterator[tuple[Any, str, str]]:
    """One gateway (default limit of 20) with a second API process on its own port, on the same Redis."""
    url = fresh_database()
    tmp = tmp_path_factory.mktemp("ratelimit")
    gw = start_gateway(tmp, url, private_redis(), AUTH_FAILURES_PER_MINUTE="20")
    port = free_port()
    second = Gateway(env={**gw.env, "PORT": str(port)}, port=port, logs=gw.logs)
    second.start_named("api2", "api")
    second.wait_healthy()
    yield gw, second.url, url
    second.close()
    gw.close()


def assert_limited(answer: Any) -> None:
    assert answer.status_code == 429, answer.text
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    error = answer.json()["error"]
    assert error["code"] == "RATE_LIMIT_ERROR" and error["description"]


def test_twenty_failures_a_minute_then_429_across_api_processes(two_apis: tuple[Any, str, str]) -> None:
    gw, second, _ = two_apis
    src = "127.0.0.11"
    with client(gw.url, src, **WRONG) as one, client(second, src, **WRONG) as two:
        for i in range(20):  # spread over both processes: only a shared count stops the 21st
            answer = (one if i % 2 else two).get("/api/v1/orders")
            assert answer.status_code == 401, (i, answer.text)
        assert_limited(one.get("/api/v1/orders"))
        assert_limited(two.get("/api/v1/orders"))
        # The address is blocked outright, whatever it sends: a right secret from it waits too.
        assert_limited(one.get("/api/v1/orders", headers=AUTH))

    # The key is now past its allowance, yet its owner, calling from an address that never failed, gets in.
    with client(gw.url, "127.0.0.12", **AUTH) as owner:
        assert owner.get("/api/v1/orders").status_code == 200
    # A fresh address guessing at the hot key gets one try, then waits, even with the right secret.
    with client(second, "127.0.0.13") as guesser:
        assert guesser.get("/api/v1/orders", headers=WRONG).status_code == 401
        assert_limited(guesser.get("/api/v1/orders", headers=AUTH))
    with client(gw.url, "127.0.0.14", **AUTH) as owner:
        assert owner.get("/api/v1/orders").status_code == 200


def test_one_address_trying_many_keys_is_limited(two_apis: tuple[Any, str, str]) -> None:
    gw, _, url = two_apis
    shop = new_merchant({"DATABASE_URL": url})
    with client(gw.url, "127.0.0.21") as anon:
        for i in range(20):
            answer = anon.get("/api/v1/orders", headers={"X-Api-Key": f"key_guess_{i}", "X-Api-Secret": "nope"})
            assert answer.status_code == 401
        assert_limited(anon.get("/api/v1/orders", headers={"X-Api-Key": "key_guess_x", "X-Api-Secret": "n"}))
    # Neither the other merchant nor the other addresses are affected.
    with client(gw.url, "127.0.0.22", **{"X-Api-Key": shop["api_key"], "X-Api-Secret": shop["api_secret"]}) as api:
        assert api.get("/api/v1/orders").status_code == 200


def test_missing_credentials_count_against_the_address(two_apis: tuple[Any, str, str]) -> None:
    gw, _, _ = two_apis
    with client(gw.url, "127.0.0.31") as anon:
        for _ in range(20):
            assert anon.get("/api/v1/orders").status_code == 401
        assert_limited(anon.get("/api/v1/orders"))


def test_a_right_secret_is_never_counted(two_apis: tuple[Any, str, str]) -> None:
    gw, _, _ = two_apis
    with client(gw.url, "127.0.0.41", **AUTH) as api:
        for _ in range(40):
            assert api.get("/api/v1/orders").status_code == 200


def test_the_limit_is_a_setting(two_apis: tuple[Any, str, str], tmp_path: Path) -> None:
    gw, _, _ = two_apis
    port = free_port()  # a third API process of the same gateway, with a limit of 3
    third = Gateway(env={**gw.env, "PORT": str(port), "AUTH_FAILURES_PER_MINUTE": "3"}, port=port, logs=tmp_path)
    third.start("api")
    try:
        third.wait_healthy(timeout=60, worker=False)
        with client(third.url, "127.0.0.51", **WRONG) as anon:
            for _ in range(3):
                assert anon.get("/api/v1/orders").status_code == 401
            assert_limited(anon.get("/api/v1/orders"))
    finally:
        third.close()
