"""Dashboard sign-in over HTTP: argon2 passwords, HttpOnly session cookies, CSRF on writes, expiry, limits."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from gatekit import ROOT, poll
from harness import create_merchant
from payflow import isolated_gateway

PASSWORD = "correct horse battery"


def merchant_with_password(env: dict[str, str], name: str, password: str = PASSWORD) -> dict[str, str]:
    return create_merchant(env, name, password)


def sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/v1/dashboard/login", json={"email": email, "password": password})


@pytest.fixture(scope="module")
def shop(gateway: Any) -> dict[str, str]:
    return merchant_with_password(gateway.env, "signin-shop")


@pytest.fixture
def browser(gateway: Any) -> Iterator[httpx.Client]:
    """A client with a cookie jar and no API key, as the dashboard's browser is."""
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


def test_the_right_password_opens_a_session_cookie_that_is_httponly_and_samesite(
    browser: httpx.Client, shop: dict[str, str]
) -> None:
    answer = sign_in(browser, shop["email"].upper(), PASSWORD)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["merchant"] == {
        "id": shop["id"],
        "name": "signin-shop",
        "email": shop["email"],
        "api_key": shop["api_key"],
    }
    assert body["csrf_token"] and body["published_secret"] is None
    cookie = answer.headers["set-cookie"]
    assert "paygate_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert body["csrf_token"] not in cookie

    # The same merchant-scoped endpoints now answer for this merchant, by cookie.
    assert browser.get("/api/v1/orders").status_code == 200
    assert browser.get("/api/v1/dashboard/session").json()["merchant"]["id"] == shop["id"]
    made = browser.post("/api/v1/orders", json={"amount": 5000}, headers={"X-CSRF-Token": body["csrf_token"]})
    assert made.status_code == 201 and made.json()["merchant_id"] == shop["id"]


def test_a_wrong_password_or_unknown_email_is_refused(browser: httpx.Client, shop: dict[str, str]) -> None:
    for email, password in ((shop["email"], "wrong password"), ("nobody@example.com", PASSWORD)):
        answer = sign_in(browser, email, password)
        assert answer.status_code == 401
        assert answer.json()["error"] == {"code": "AUTHENTICATION_ERROR", "description": "Invalid email or password"}
        assert "set-cookie" not in answer.headers
    assert browser.get("/api/v1/orders").status_code == 401


def test_a_write_without_the_csrf_token_is_refused(browser: httpx.Client, shop: dict[str, str]) -> None:
    sign_in(browser, shop["email"], PASSWORD)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        answer = browser.post("/api/v1/orders", json={"amount": 5000}, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["description"] == "Missing or invalid CSRF token"
        assert browser.post("/api/v1/keys/rotate", headers=headers).status_code == 401


def test_signing_out_ends_the_session(browser: httpx.Client, shop: dict[str, str]) -> None:
    token = sign_in(browser, shop["email"], PASSWORD).json()["csrf_token"]
    stolen = browser.cookies["paygate_session"]
    assert browser.post("/api/v1/dashboard/logout").status_code == 401  # no CSRF token: not even this
    assert browser.post("/api/v1/dashboard/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert "paygate_session" not in browser.cookies
    replay = httpx.get(f"{str(browser.base_url).rstrip('/')}/api/v1/orders", cookies={"paygate_session": stolen})
    assert replay.status_code == 401


def test_only_a_hash_of_the_password_and_of_the_session_is_stored(gateway: Any, shop: dict[str, str]) -> None:
    with httpx.Client(base_url=gateway.url) as client:
        token = sign_in(client, shop["email"], PASSWORD).cookies["paygate_session"]
    with psycopg.connect(gateway.env["DATABASE_URL"]) as conn:
        events = conn.execute(
            "SELECT type, data::text FROM events WHERE stream_id = %s ORDER BY stream_version",
            (f"merchant-{shop['id']}",),
        ).fetchall()
        stored = conn.execute("SELECT password_hash FROM merchants WHERE id = %s", (shop["id"],)).fetchone()
        sessions = conn.execute("SELECT token_hash FROM dashboard_sessions").fetchall()
    assert [t for t, _ in events] == ["merchant.registered.v2", "merchant.password_set.v1"]
    assert all(PASSWORD not in data for _, data in events)
    assert stored is not None and stored[0].startswith("$argon2id$")
    assert all(token not in row[0] for row in sessions) and len(sessions) >= 1


def test_the_test_merchant_takes_any_password_in_test_mode(browser: httpx.Client) -> None:
    answer = sign_in(browser, "test@example.com", "anything at all")
    assert answer.status_code == 200
    assert answer.json()["published_secret"] == "secret_test_xyz789"  # development: published anyway


def test_outside_test_mode_limits_expiry_and_the_test_merchant_hold(tmp_path: Path, fresh_database: Any) -> None:
    env = {"TEST_MODE": "false", "AUTH_FAILURES_PER_MINUTE": "3", "DASHBOARD_SESSION_TTL_S": "3"}
    with isolated_gateway(tmp_path, fresh_database(), **env) as gw, httpx.Client(base_url=gw.url) as client:
        assert sign_in(client, "test@example.com", "anything at all").status_code == 401

        shop = merchant_with_password(gw.env, "limited-shop")
        answer = sign_in(client, shop["email"], PASSWORD)
        assert answer.status_code == 200
        # The session ends by itself after DASHBOARD_SESSION_TTL_S.
        poll(lambda: client.get("/api/v1/orders").status_code, lambda s: s == 401, 30, "the session to expire")
        assert client.get("/api/v1/dashboard/session").status_code == 401

        # The test merchant's refusal above was this address's first failure: two more use up its three.
        codes = [sign_in(client, shop["email"], f"guess {i}").status_code for i in range(3)]
        assert codes == [401, 401, 429]
        limited = sign_in(client, shop["email"], PASSWORD)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "RATE_LIMIT_ERROR"


def test_changing_the_password_is_an_event_and_the_old_one_stops_working(gateway: Any) -> None:
    shop = merchant_with_password(gateway.env, "changing-shop")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "paygate",
            "merchant",
            "password",
            "--email",
            shop["email"],
            "--password",
            "a brand new password",
        ],
        env={**os.environ, **gateway.env},
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with httpx.Client(base_url=gateway.url) as client:
        assert sign_in(client, shop["email"], PASSWORD).status_code == 401
        assert sign_in(client, shop["email"], "a brand new password").status_code == 200
    with psycopg.connect(gateway.env["DATABASE_URL"]) as conn:
        types = [
            r[0]
            for r in conn.execute(
                "SELECT type FROM events WHERE stream_id = %s ORDER BY stream_version", (f"merchant-{shop['id']}",)
            ).fetchall()
        ]
    assert types == ["merchant.registered.v2", "merchant.password_set.v1", "merchant.password_set.v1"]
    short = subprocess.run(
        [sys.executable, "-m", "paygate", "merchant", "password", "--email", shop["email"], "--password", "short"],
        env={**os.environ, **gateway.env},
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert short.returncode == 2 and b"at least 8" in short.stderr
