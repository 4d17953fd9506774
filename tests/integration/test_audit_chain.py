"""The hash chain: the chainer links every committed event, and the verifier finds each kind of tampering at
its chain_seq and position, then passes again once the row is put back."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from auditkit import behind_triggers, chain_all, seq_of, two_merchants
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import digest as digests
from audit import spec, verify

ROOT = Path(__file__).resolve().parents[2]
KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
async def chained(store: str) -> int:
    from storekit import app_connection

    async with app_connection(store) as conn:
        await two_merchants(conn)
        return await chain_all(conn)


@pytest.fixture
async def signed(owner: Any, chained: int) -> dict[str, Any]:
    return await digests.make(owner, KEY)


async def positions(owner: Any) -> list[int]:
    cur = await owner.execute("SELECT position FROM events ORDER BY tx_id, position")
    return [r[0] for r in await cur.fetchall()]


async def test_the_chain_is_gap_free_in_commit_order_and_links_each_event_to_the_one_before(
    owner: Any, chained: int
) -> None:
    cur = await owner.execute(
        """SELECT c.chain_seq, e.position FROM event_chain c JOIN events e USING (position)
           ORDER BY c.chain_seq"""
    )
    rows = await cur.fetchall()
    assert [s for s, _ in rows] == list(range(1, chained + 1))
    assert [p for _, p in rows] == await positions(owner)
    # The first link, recomputed by hand from the README's rules.
    cur = await owner.execute(
        """SELECT e.position, e.event_id::text, e.stream_id, e.stream_version, e.type, e.recorded_at, e.data,
                  e.metadata, c.hash FROM event_chain c JOIN events e USING (position) WHERE c.chain_seq = 1"""
    )
    pos, eid, stream, version, type_, at, data, meta, h = await cur.fetchone()
    doc = {
        "data": data,
        "event_id": eid,
        "metadata": meta,
        "position": pos,
        "recorded_at": spec.timestamp(at),
        "stream_id": stream,
        "stream_version": version,
        "type": type_,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    import hashlib

    assert bytes(h) == hashlib.sha256(bytes(32) + text).digest()


async def test_an_intact_log_verifies_against_its_digest(owner: Any, signed: dict[str, Any]) -> None:
    assert digests.check(signed, KEY.public_key().public_bytes_raw().hex())["chain_seq"] > 0
    assert await verify.verify(owner, signed) is None


async def test_a_row_changed_behind_the_triggers_is_found_and_verifies_once_put_back(
    owner: Any, signed: dict[str, Any]
) -> None:
    target = (await positions(owner))[7]
    row = await (await owner.execute("SELECT data::text FROM events WHERE position = %s", (target,))).fetchone()
    await behind_triggers(
        owner, "UPDATE events SET data = jsonb_set(data, '{n}', '999') WHERE position = %s", (target,)
    )
    found = await verify.verify(owner, signed)
    assert found is not None and (found.chain_seq, found.position) == (await seq_of(owner, target), target)
    assert "content" in found.problem
    await behind_triggers(owner, "UPDATE events SET data = %s::jsonb WHERE position = %s", (row[0], target))
    assert await verify.verify(owner, signed) is None


async def test_a_deleted_row_is_found_and_verifies_once_put_back(owner: Any, signed: dict[str, Any]) -> None:
    target = (await positions(owner))[3]
    cur = await owner.execute("SELECT * FROM events WHERE position = %s", (target,))
    names = [d.name for d in cur.description]
    row = await cur.fetchone()
    await behind_triggers(owner, "DELETE FROM events WHERE position = %s", (target,))
    found = await verify.verify(owner, signed)
    assert found is not None and (found.chain_seq, found.position) == (await seq_of(owner, target), target)
    assert "deleted" in found.problem
    cols = ", ".join(names)
    marks = ", ".join("%s" for _ in names)
    from psycopg.types.json import Jsonb

    values = [Jsonb(v) if n in ("data", "metadata") else v for n, v in zip(names, row, strict=True)]
    await behind_triggers(owner, f"INSERT INTO events ({cols}) OVERRIDING SYSTEM VALUE VALUES ({marks})", values)
    assert await verify.verify(owner, signed) is None


async def test_a_row_inserted_into_the_chained_past_is_found(owner: Any, signed: dict[str, Any]) -> None:
    order = await positions(owner)
    # Behind an early transaction's events: commit order puts it right after them, before the next event.
    tx = (await (await owner.execute("SELECT tx_id::text FROM events WHERE position = %s", (order[4],))).fetchone())[0]
    forged = 10**9
    await behind_triggers(
        owner,
        """INSERT INTO events (position, tx_id, event_id, stream_id, stream_version, type, data)
           OVERRIDING SYSTEM VALUE VALUES (%s, %s::xid8, gen_random_uuid(), 'forged', 1, 'test.happened.v1', '{}')""",
        (forged, tx),
    )
    try:
        after = [p for p in await positions(owner) if p != forged]
        cur = await owner.execute(
            "SELECT position FROM events WHERE tx_id = %s::xid8 ORDER BY position DESC LIMIT 1 OFFSET 1", (tx,)
        )
        last_of_tx = (await cur.fetchone())[0]
        found = await verify.verify(owner, signed)
        assert found is not None
        assert (found.chain_seq, found.position) == (await seq_of(owner, last_of_tx) + 1, forged)
        assert "inserted" in found.problem and after == order
    finally:
        await behind_triggers(owner, "DELETE FROM events WHERE position = %s", (forged,))
    assert await verify.verify(owner, signed) is None


async def test_a_digest_of_another_chain_does_not_verify(owner: Any, signed: dict[str, Any]) -> None:
    forged = digests.sign(
        KEY,
        chain_seq=signed["chain_seq"],
        position=signed["position"],
        head=bytes(32),
        root=bytes.fromhex(signed["merkle_root"]),
    )
    found = await verify.verify(owner, forged)
    assert found is not None and found.chain_seq == 0
    with pytest.raises(digests.DigestError):
        digests.check({**signed, "chain_seq": signed["chain_seq"] - 1, "tree_size": signed["chain_seq"] - 1})


async def test_the_cli_signs_a_digest_and_names_the_tampered_event(
    store: str, redis_url: str, owner: Any, chained: int, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": store, "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paygate", "audit", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    made = cli("digest", "--out", str(tmp_path / "digest.json"))
    assert made.returncode == 0, made.stderr
    head = json.loads(made.stdout)
    assert head == json.loads((tmp_path / "digest.json").read_text()) and head["chain_seq"] == chained
    assert (tmp_path / "audit-signing.key").exists()
    ok = cli("verify", "--digest", str(tmp_path / "digest.json"))
    assert ok.returncode == 0, ok.stderr
    target = (await positions(owner))[-2]
    await behind_triggers(owner, "UPDATE events SET type = 'test.forged.v1' WHERE position = %s", (target,))
    try:
        bad = cli("verify", "--digest", str(tmp_path / "digest.json"))
        assert bad.returncode == 1
        assert f"chain_seq {await seq_of(owner, target)}, event position {target}" in bad.stderr
    finally:
        await behind_triggers(owner, "UPDATE events SET type = 'test.happened.v1' WHERE position = %s", (target,))


async def test_a_fenced_off_chainer_writes_nothing_and_the_new_leader_goes_on(
    store: str, owner: Any, chained: int
) -> None:
    from storekit import app_connection

    from ledger import chain

    async with app_connection(store) as conn:
        old = await chain.claim(conn)
        new = await chain.claim(conn)
        await two_merchants(conn, rounds=1)
        before = await chain.lag(conn)
        assert await chain.chain_batch(conn, epoch=old) == 0
        after = await chain.lag(conn)
        assert (after["head"], after["lag_events"]) == (before["head"], before["lag_events"]) != (before["head"], 0)
        # Read only below the cluster's oldest open transaction (any database's): poll, it may be a test elsewhere.
        deadline = time.monotonic() + 30
        while not await chain.chain_batch(conn, epoch=new):
            assert time.monotonic() < deadline, "the new leader chained nothing"
            await asyncio.sleep(0.05)
        await chain_all(conn)
    assert await verify.verify(owner, None) is None


async def test_a_chainer_whose_checkpoint_moved_after_it_read_writes_nothing(
    store: str, owner: Any, chained: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chainer reads and hashes before it takes its lock, then checks that the checkpoint is still the one it
    read after: another chainer that moved it meanwhile wins, and the chain stays whole."""
    from storekit import app_connection

    from ledger import chain

    async with app_connection(store) as conn, app_connection(store) as other:
        await chain_all(conn)
        await two_merchants(conn, rounds=1)
        read_all, raced = chain.read_all_text, []

        async def read_then_another_chains(c: Any, after: Any, limit: int) -> Any:
            events = await read_all(c, after, limit)
            if events and not raced:
                raced.append(len(events))
                await chain_all(other)  # moves the checkpoint past what this chainer is about to hash
            return events

        monkeypatch.setattr(chain, "read_all_text", read_then_another_chains)
        head = (await chain.lag(conn))["head"]
        deadline = time.monotonic() + 30
        while not raced:  # reads only below the cluster's oldest open transaction: poll, as the test above does
            assert await chain.chain_batch(conn) == 0
            assert time.monotonic() < deadline, "the chainer found nothing to chain"
            await asyncio.sleep(0.05)
        after = await chain.lag(conn)
        assert after["head"] >= head + raced[0] and after["lag_events"] == 0
    assert await verify.verify(owner, None) is None
