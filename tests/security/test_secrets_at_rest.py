"""Issue 7, item 6: no API or webhook secret in plain text in any table or event; key rotation with a grace
period; deleting a merchant's data key forgets its secrets while the log still reads; old plain-text logs are
upcast and migrated."""

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from secretkit import (
    AUTH,
    TEST_SECRET,
    TEST_WEBHOOK_SECRET,
    Gateway,
    client,
    free_port,
    new_merchant,
    start_gateway,
    tables_holding,
    until,
)

import ledger
from commands.catalog import CODEC
from ledger import vault

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: Callable[[], str], private_redis: Any
) -> Iterator[tuple[Any, str]]:
    url = fresh_database()
    gw = start_gateway(tmp_path_factory.mktemp("secrets"), url, private_redis(), API_KEY_GRACE_S="3")
    yield gw, url
    gw.close()


def test_no_secret_is_stored_in_plain_text_anywhere(world: tuple[Any, str]) -> None:
    gw, url = world
    shop = new_merchant({"DATABASE_URL": url})
    with client(gw.url, **{"X-Api-Key": shop["api_key"], "X-Api-Secret": shop["api_secret"]}) as api:
        webhook_secret = api.get("/api/v1/webhooks/config").json()["secret"]
        rotated_webhook = api.post("/api/v1/webhooks/config/secret").json()["secret"]
        rotated = api.post("/api/v1/keys/rotate").json()
    with client(gw.url, **AUTH) as api:
        assert api.get("/api/v1/orders").status_code == 200
    secrets_ = [TEST_SECRET, TEST_WEBHOOK_SECRET, shop["api_secret"], webhook_secret, rotated_webhook]
    secrets_.append(rotated["api_secret"])
    assert all(len(s) >= 16 for s in secrets_)
    found = tables_holding(url, *secrets_)
    assert found == {s: [] for s in secrets_}, found
    # The scan does find what is there: the (public) key names are in the merchants table and the log.
    assert tables_holding(url, rotated["api_key"])[rotated["api_key"]] == ["events", "merchants"]


def test_a_rotated_key_pair_works_until_its_grace_period_ends(world: tuple[Any, str]) -> None:
    gw, url = world
    shop = new_merchant({"DATABASE_URL": url})
    old = {"X-Api-Key": shop["api_key"], "X-Api-Secret": shop["api_secret"]}
    with client(gw.url, **old) as api:
        answer = api.post("/api/v1/keys/rotate")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"api_key", "api_secret", "previous_key_expires_at"}
    assert body["api_key"] != shop["api_key"] and body["api_secret"] != shop["api_secret"]
    new = {"X-Api-Key": body["api_key"], "X-Api-Secret": body["api_secret"]}
    expires = datetime.fromisoformat(body["previous_key_expires_at"].replace("Z", "+00:00"))
    with client(gw.url, **new) as api:
        assert api.get("/api/v1/orders").status_code == 200
        assert api.post("/api/v1/orders", json={"amount": 50000}).status_code == 201
    with client(gw.url, **old) as api:
        assert api.get("/api/v1/orders").status_code == 200  # still inside the grace period
        # a right key with a wrong secret is still refused during the grace period
        assert api.get("/api/v1/orders", headers={"X-Api-Secret": shop["api_secret"] + "x"}).status_code == 401
    until(expires.timestamp() + 6)  # past the expiry and the API's 5 s key cache
    with client(gw.url, **old) as api:
        answer = api.get("/api/v1/orders")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    with client(gw.url, **new) as api:
        assert api.get("/api/v1/orders").status_code == 200


def test_deleting_the_data_key_forgets_the_secrets_and_the_log_still_reads(world: tuple[Any, str]) -> None:
    gw, url = world
    shop = new_merchant({"DATABASE_URL": url})
    mid = shop["id"]
    headers = {"X-Api-Key": shop["api_key"], "X-Api-Secret": shop["api_secret"]}
    with client(gw.url, **headers) as api:
        assert api.get("/api/v1/webhooks/config").json()["secret"].startswith("whsec_")

    async def secrets_now() -> tuple[Any, Any]:
        from projections import merchants

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            config = await merchants.webhook_config(conn, mid)
            assert config is not None
            return await merchants.api_secret(conn, mid), config["webhook_secret"]

    assert asyncio.run(secrets_now()) == (shop["api_secret"], _webhook(gw, headers))
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("DELETE FROM merchant_keys WHERE merchant_id = %s", (mid,)).rowcount == 1
        rows = conn.execute(
            "SELECT type, data FROM events WHERE stream_id = %s ORDER BY stream_version", (f"merchant-{mid}",)
        ).fetchall()
    assert asyncio.run(secrets_now()) == (None, None)
    # The log still decodes, and what it holds cannot be opened without the deleted key.
    events = [CODEC.decode(t, d) for t, d in rows]
    sealed = events[0].api_secret_sealed
    assert sealed and shop["api_secret"] not in sealed
    with pytest.raises(vault.VaultError):
        vault.open_sealed(bytes(32), sealed, mid)
    with client(gw.url, **headers) as api:
        assert api.get("/api/v1/webhooks/config").json()["secret"] is None
        refused = api.post("/api/v1/keys/rotate")
        assert refused.status_code == 400 and set(refused.json()["error"]) >= {"code", "description"}
    with client(gw.url, **AUTH) as api:  # other merchants are untouched
        assert api.get("/api/v1/webhooks/config").json()["secret"] == TEST_WEBHOOK_SECRET


def _webhook(gw: Any, headers: dict[str, str]) -> str:
    with client(gw.url, **headers) as api:
        secret: str = api.get("/api/v1/webhooks/config").json()["secret"]
    return secret


def test_an_old_log_with_plain_secrets_is_upcast_and_migrated(
    tmp_path: Path, fresh_database: Callable[[], str], world: tuple[Any, str]
) -> None:
    url = fresh_database()
    mid = "6f1c3a52-0000-4000-8000-00000000a11d"
    api_secret, first_hook, last_hook = (
        "secret_legacy_" + "p" * 20,
        "whsec_legacy_first_000000",
        "whsec_legacy_last_0000000",
    )

    async def write_old_log() -> None:
        # What the gateway wrote before secrets were protected: plain events and plain columns.
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("ALTER TABLE merchants ADD COLUMN api_secret text, ADD COLUMN webhook_secret text")
            at = "2030-01-01T00:00:00.000000Z"
            registered = {
                "merchant_id": mid, "name": "Old Shop", "email": "old@example.com", "api_key": "key_legacy_1",
                "api_secret": api_secret, "webhook_secret": first_hook, "registered_at": at, "password_hash": None,
            }  # fmt: skip
            rotated = {"merchant_id": mid, "webhook_secret": last_hook, "rotated_at": at}
            await ledger.append(
                conn,
                f"merchant-{mid}",
                [
                    ledger.NewEvent("merchant.registered.v1", registered),
                    ledger.NewEvent("merchant.webhook_secret_rotated.v1", rotated),
                ],
                expected_version=0,
            )
            await conn.execute(
                """INSERT INTO merchants (id, name, email, api_key, api_secret, webhook_secret, created_at, updated_at)
                   VALUES (%s, 'Old Shop', 'old@example.com', 'key_legacy_1', %s, %s, %s, %s)""",
                (mid, api_secret, last_hook, at, at),
            )

    asyncio.run(write_old_log())
    # The API alone migrates (and enqueues no job), so it may share the other gateway's Redis database.
    port = free_port()
    env = {**world[0].env, "DATABASE_URL": url, "PORT": str(port)}
    gw = Gateway(env=env, port=port, logs=tmp_path)
    gw.start("api")
    try:
        gw.wait_healthy(timeout=60, worker=False)
        headers = {"X-Api-Key": "key_legacy_1", "X-Api-Secret": api_secret}
        with client(gw.url, **headers) as api:
            assert api.get("/api/v1/orders").status_code == 200
            assert api.get("/api/v1/webhooks/config").json()["secret"] == last_hook
        found = tables_holding(url, api_secret, first_hook, last_hook)
        # Only the old, append-only event rows still hold them (the README says what an operator does).
        assert found == {api_secret: ["events"], first_hook: ["events"], last_hook: ["events"]}
        with psycopg.connect(url, autocommit=True) as conn:
            sealed = conn.execute(
                "SELECT data::text FROM events WHERE type = 'merchant.secrets_sealed.v1' AND stream_id = %s",
                (f"merchant-{mid}",),
            ).fetchall()
            assert len(sealed) == 1 and api_secret not in sealed[0][0] and last_hook not in sealed[0][0]
            assert conn.execute("SELECT count(*) FROM merchants WHERE api_secret IS NOT NULL").fetchone() == (0,)
        gw.stop("api")  # a restart seals nothing twice
        gw.start("api")
        gw.wait_healthy(timeout=60, worker=False)
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM events WHERE type = 'merchant.secrets_sealed.v1'").fetchone()
        assert row == (1,)
        with client(gw.url, **headers) as api:
            assert api.get("/api/v1/orders").status_code == 200
    finally:
        gw.close()
