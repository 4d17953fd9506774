"""Idempotency keys with a clock the test moves: kept 24 hours, then new again and purged; a request that
finds its key held waits for the first one, or gives up with 409 — it never runs the work itself. An answer
kept by the append that makes it (``riding``) holds a second request until it commits, which then replays it.

The API runs in-process (so its clock can be swapped) on a database of this module's own and real Redis.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from starlette.responses import Response

import ledger
from api import idempotency
from api.idempotency import Fingerprint, IdempotentRequest, KeyInFlight
from api.main import create_app
from paygate.database import make_pool
from paygate.settings import Settings

AUTH = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
MERCHANT = "550e8400-e29b-41d4-a716-446655440000"


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def settings(store: str, redis_url: str) -> Settings:
    return Settings(database_url=store, redis_url=redis_url, test_mode=True, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[Any]:
    async with make_pool(settings, store_url(settings), max_size=4, name="idempotency-tests") as p:
        yield p


def store_url(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url


@pytest.fixture
async def client(settings: Settings, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    pools = partial(make_pool, settings, store_url(settings), lean=True)
    app = create_app(settings, settings.redis_url, pools, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://paygate", headers=AUTH) as c:
            yield c


def keyed(k: str) -> dict[str, str]:
    return {"Idempotency-Key": k}


async def test_a_key_is_replayed_for_24_hours_and_is_new_again_after(client: httpx.AsyncClient, clock: Clock) -> None:
    k = f"expiry-{secrets.token_hex(6)}"
    first = await client.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k))
    assert first.status_code == 201

    clock.advance(hours=23, minutes=59, seconds=59)
    within = await client.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k))
    assert (within.status_code, within.content) == (201, first.content)

    clock.advance(seconds=1)
    after = await client.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k))
    assert after.status_code == 201
    assert after.json()["id"] != first.json()["id"]

    # ... and the new answer is the one kept for the next 24 hours.
    clock.advance(hours=1)
    again = await client.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k))
    assert again.content == after.content


async def test_after_expiry_the_key_may_even_name_another_request(client: httpx.AsyncClient, clock: Clock) -> None:
    k = f"expiry-{secrets.token_hex(6)}"
    assert (await client.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(k))).status_code == 201
    clock.advance(hours=24)
    other = await client.post("/api/v1/orders", json={"amount": 20000}, headers=keyed(k))
    assert (other.status_code, other.json()["amount"]) == (201, 20000)


async def test_the_purge_deletes_expired_keys_only(client: httpx.AsyncClient, clock: Clock, app_conn: Any) -> None:
    old, fresh = f"purge-old-{secrets.token_hex(6)}", f"purge-new-{secrets.token_hex(6)}"
    assert (await client.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(old))).status_code == 201
    clock.advance(hours=12)
    assert (await client.post("/api/v1/orders", json={"amount": 10000}, headers=keyed(fresh))).status_code == 201
    clock.advance(hours=12)

    await idempotency.purge_expired(app_conn, clock())

    cur = await app_conn.execute("SELECT key FROM idempotency_keys WHERE key IN (%s, %s)", (old, fresh))
    assert [r[0] for r in await cur.fetchall()] == [fresh]


# ---------------------------------------------------------------- a second request while the first runs


def _request(conn: Any, k: str, clock: Clock, wait: timedelta = idempotency.WAIT) -> IdempotentRequest:
    return IdempotentRequest(conn, k, Fingerprint.of("POST", "/api/v1/things", b'{"a":1}'), clock, wait)


async def test_a_second_request_waits_for_the_first_and_replays_its_answer(pool: Any, clock: Clock) -> None:
    k, merchant = f"inflight-{secrets.token_hex(6)}", MERCHANT
    release, runs = asyncio.Event(), []

    async def slow_work() -> Response:
        runs.append("first")
        await release.wait()
        return Response(b'{"id":"thing_1"}', status_code=201, media_type="application/json")

    async def second_work() -> Response:
        runs.append("second")
        return Response(b'{"id":"thing_2"}', status_code=201, media_type="application/json")

    async with pool.connection() as c1, pool.connection() as c2:
        first = asyncio.create_task(_request(c1, k, clock).once(merchant, slow_work))
        while not runs:
            await asyncio.sleep(0.01)
        second = asyncio.create_task(_request(c2, k, clock).once(merchant, second_work))
        await asyncio.sleep(0.2)
        assert not second.done()  # held behind the first
        release.set()
        answers = await asyncio.gather(first, second)

    assert runs == ["first"]
    assert [a.body for a in answers] == [b'{"id":"thing_1"}'] * 2


async def test_a_second_request_that_waits_too_long_gets_a_conflict_and_runs_nothing(pool: Any, clock: Clock) -> None:
    k, merchant = f"inflight-{secrets.token_hex(6)}", MERCHANT
    release, runs = asyncio.Event(), []

    async def slow_work() -> Response:
        runs.append("first")
        await release.wait()
        return Response(b"{}", status_code=201, media_type="application/json")

    async def second_work() -> Response:
        runs.append("second")
        return Response(b"{}", status_code=201, media_type="application/json")

    async with pool.connection() as c1, pool.connection() as c2:
        first = asyncio.create_task(_request(c1, k, clock).once(merchant, slow_work))
        while not runs:
            await asyncio.sleep(0.01)
        with pytest.raises(KeyInFlight):
            await _request(c2, k, clock, wait=timedelta(milliseconds=100)).once(merchant, second_work)
        release.set()
        await first
        # The waiting session keeps no shortened lock timeout once the key is no longer contended.
        cur = await c2.execute("SHOW lock_timeout")
        assert (await cur.fetchone()) == ("0",)

    assert runs == ["first"]


# ---------------------------------------------------------------- answers kept by the append that makes them


async def _append_keeping(conn: Any, stream: str, keep: Any, body: bytes) -> Response:
    """A creating request's work: a new stream whose append carries the request's answer."""
    response = Response(body, status_code=201, media_type="application/json")
    event = ledger.NewEvent("probe.created.v1", {"n": 1})
    await ledger.append(conn, stream, [event], expected_version=0, also=keep(response) if keep else ())
    return response


async def test_a_second_request_waits_for_the_first_answer_being_written_and_replays_it(
    pool: Any, clock: Clock
) -> None:
    k, merchant = f"riding-{secrets.token_hex(6)}", MERCHANT
    first_stream, second_stream = f"probe-{secrets.token_hex(6)}", f"probe-{secrets.token_hex(6)}"
    async with pool.connection() as c1, pool.connection() as c2:
        writing = c1.transaction()
        await writing.__aenter__()  # the first answer is written but not committed yet
        await _request(c1, k, clock).riding(merchant, lambda keep: _append_keeping(c1, first_stream, keep, b"1"))
        second = asyncio.create_task(
            _request(c2, k, clock).riding(merchant, lambda keep: _append_keeping(c2, second_stream, keep, b"2"))
        )
        await asyncio.sleep(0.2)
        assert not second.done()  # held on the key's row
        await writing.__aexit__(None, None, None)
        answer = await second
        assert (answer.body, answer.headers["Idempotent-Replayed"]) == (b"1", "true")
        streams = (first_stream, second_stream)
        cur = await c2.execute("SELECT stream_id FROM events WHERE stream_id IN (%s, %s)", streams)
        assert [r[0] for r in await cur.fetchall()] == [first_stream]  # the second wrote nothing


async def test_a_riding_answer_whose_key_expired_unpurged_is_written_anew(pool: Any, clock: Clock) -> None:
    k, merchant = f"riding-{secrets.token_hex(6)}", MERCHANT
    async with pool.connection() as conn:
        await _request(conn, k, clock).riding(merchant, lambda keep: _append_keeping(conn, f"probe-{k}-1", keep, b"1"))
        clock.advance(hours=24)
        again = await _request(conn, k, clock).riding(
            merchant, lambda keep: _append_keeping(conn, f"probe-{k}-2", keep, b"2")
        )
        assert again.body == b"2" and "Idempotent-Replayed" not in again.headers
        clock.advance(hours=1)
        replayed = await _request(conn, k, clock).riding(
            merchant, lambda keep: _append_keeping(conn, f"probe-{k}-3", keep, b"3")
        )
        assert replayed.body == b"2"
