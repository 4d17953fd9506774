"""`audit replay`: after any random history the replayed projections equal the live ones row for row, and a
changed live row is listed with its content on both sides."""

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from storekit import app_connection, owner_connection
from test_balances_property import History, play

import projections
from projections import checkpoints, rebuild, runner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner_:
        yield runner_


async def catch_up_all(store: str, timeout: float = 30) -> None:
    """Every async projection of the registry up to the last event of the log."""
    async with app_connection(store) as conn:
        cur = await conn.execute("SELECT tx_id::text::bigint, position FROM events ORDER BY tx_id DESC, position DESC")
        tail = await cur.fetchone()
        deadline = time.monotonic() + timeout
        for model in projections.ASYNC:
            while (
                await runner.catch_up(conn, model)
                or dataclasses.astuple(await checkpoints.load(conn, model.NAME)) != tail
            ):
                assert time.monotonic() < deadline, f"{model.NAME} did not catch up"
                await asyncio.sleep(0.05)


async def replayed(store: str) -> list[rebuild.TableReport]:
    async with owner_connection(store) as owner:
        assert (await rebuild.replay(owner)).events > 0
        return await rebuild.compare(owner)


@given(history=History)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
def test_after_any_history_replay_equals_live(loop: asyncio.Runner, store: str, history: list[Any]) -> None:
    loop.run(play(store, history))
    loop.run(catch_up_all(store))
    reports = loop.run(replayed(store))
    assert {r.table for r in reports} == set(projections.TABLES)
    assert [r for r in reports if not r.equal] == []


def test_the_replay_command_lists_a_changed_row_and_exits_1(loop: asyncio.Runner, store: str, redis_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": store, "REDIS_URL": redis_url}

    def replay() -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "paygate", "audit", "replay", "--json"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])

    code, report = replay()
    assert (code, report["equal"]) == (0, True) and report["events"] > 0

    async def change(delta: int) -> str:
        async with owner_connection(store) as owner:
            cur = await owner.execute(
                "UPDATE orders SET amount = amount + %s WHERE id = (SELECT min(id) FROM orders) RETURNING id", (delta,)
            )
            return str((await cur.fetchone())[0])

    order_id = loop.run(change(1))
    try:
        code, report = replay()
    finally:
        loop.run(change(-1))
    orders = next(t for t in report["tables"] if t["table"] == "orders")
    assert (code, orders["equal"], orders["only_live"], orders["only_rebuilt"]) == (1, False, 1, 1)
    sides = {d["side"]: d["row"] for d in orders["differences"]}
    assert sides["live"]["id"] == sides["rebuilt"]["id"] == order_id
    assert sides["live"]["amount"] == sides["rebuilt"]["amount"] + 1
