"""Exports: the whole log verifies offline and fails on any changed byte; a merchant's slice verifies with
inclusion proofs and holds no one else's events; forgetting a merchant's key breaks nothing."""

import io
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from auditkit import MERCHANT_A, MERCHANT_B, chain_all, two_merchants
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from storekit import app_connection, session_on

from audit import digest as digests
from audit import export, verify
from commands import merchant
from commands.usecases import register_merchant

ROOT = Path(__file__).resolve().parents[2]
KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
async def chained(store: str) -> int:
    async with app_connection(store) as conn:
        await two_merchants(conn)
        return await chain_all(conn)


async def exported(owner: Any, merchant_id: str | None = None) -> str:
    out = io.StringIO()
    await export.write(owner, out, await digests.make(owner, KEY), merchant_id)
    return out.getvalue()


def check(text: str, against: dict[str, Any] | None = None) -> int:
    return export.verify(io.StringIO(text), against)


def changed(text: str, at: int) -> str:
    raw = bytearray(text.encode())
    raw[at] = ord("0") if raw[at] != ord("0") else ord("1")
    return raw.decode(errors="replace")


async def test_a_whole_export_verifies_offline_and_fails_on_any_changed_byte(owner: Any, chained: int) -> None:
    text = await exported(owner)
    assert check(text) == chained
    lines = text.splitlines()
    assert len(lines) == chained + 1 and {"chain_seq", "hash", "event"} == set(json.loads(lines[1]))
    rng = random.Random(7)
    # Every byte of the header and the first event, and a sample of the rest.
    spots = list(range(len(lines[0]) + len(lines[1]) + 2)) + rng.sample(range(len(text.encode())), 300)
    for at in spots:
        with pytest.raises(export.ExportError):
            check(changed(text, at))
    with pytest.raises(export.ExportError):
        check("\n".join(lines[:-1]) + "\n")  # a dropped event


async def test_an_export_checks_against_an_earlier_digest_and_refuses_a_forged_one(owner: Any, chained: int) -> None:
    earlier = await digests.make(owner, KEY)
    async with app_connection(owner.info.dsn) as conn:
        await two_merchants(conn, rounds=2)
        await chain_all(conn)
    text = await exported(owner)
    total = (await (await owner.execute("SELECT count(*) FROM events")).fetchone())[0]
    assert total > chained and check(text, earlier) == total
    forged = digests.sign(
        KEY,
        chain_seq=earlier["chain_seq"],
        position=earlier["position"],
        head=bytes(32),
        root=bytes.fromhex(earlier["merkle_root"]),
    )
    with pytest.raises(export.ExportError, match="differs from the digest given"):
        check(text, forged)
    stranger = digests.sign(Ed25519PrivateKey.generate(), chain_seq=1, position=1, head=bytes(32), root=bytes(32))
    with pytest.raises(export.ExportError, match="signed by another key"):
        export.verify(io.StringIO(text), stranger, KEY.public_key().public_bytes_raw().hex())


async def test_a_merchants_slice_verifies_by_inclusion_proofs_without_anyone_elses_events(
    owner: Any, chained: int
) -> None:
    text = await exported(owner, MERCHANT_A)
    lines = [json.loads(line) for line in text.splitlines()]
    events = [line["event"] for line in lines[1:]]
    assert events and all(
        MERCHANT_A in (e["data"].get("merchant_id"), e["metadata"].get("merchant_id")) for e in events
    )
    assert MERCHANT_B not in text
    assert all(set(line) == {"chain_seq", "event", "proof"} for line in lines[1:])
    assert check(text) == len(events)
    rng = random.Random(11)
    for at in rng.sample(range(len(text.encode())), 300):
        with pytest.raises(export.ExportError):
            check(changed(text, at))
    # Moving an event to another place in the tree fails its proof.
    moved = dict(lines[2], chain_seq=lines[2]["chain_seq"] + 1)
    with pytest.raises(export.ExportError):
        check("\n".join([export.dumps(lines[0]), export.dumps(lines[1]), export.dumps(moved)]) + "\n")


async def test_forgetting_a_merchants_key_keeps_the_chain_and_its_exports_whole(store: str, owner: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    shredded = str(uuid.uuid4())
    async with app_connection(store) as conn:
        await register_merchant(
            session_on(conn),
            merchant.RegisterMerchant(
                shredded,
                "Gone",
                f"{tag}@x.test",
                f"key_{tag}",
                "plain-api-secret",
                "whsec_plainwebhook",
                "2030-06-15T10:00:00.000000Z",
            ),
        )
        await chain_all(conn)
    cur = await owner.execute("SELECT data::text FROM events WHERE data->>'merchant_id' = %s", (shredded,))
    stored = " ".join(r[0] for r in await cur.fetchall())
    assert stored and "whsec_plainwebhook" not in stored  # the chain covers ciphertext, not the secret
    signed = await digests.make(owner, KEY)
    await owner.execute("DELETE FROM merchant_keys WHERE merchant_id = %s", (shredded,))
    assert await verify.verify(owner, signed) is None
    assert check(await exported(owner, shredded)) >= 1


async def test_the_cli_exports_and_verifies_offline_with_no_database(
    store: str, redis_url: str, chained: int, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": store, "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path)}
    out, part = tmp_path / "log.jsonl", tmp_path / "a.jsonl"
    run = [sys.executable, "-m", "paygate", "audit"]
    for args in (["export", "--out", str(out)], ["export", "--out", str(part), "--merchant", MERCHANT_A]):
        done = subprocess.run([*run, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    # No database: an address where nothing listens.
    offline = {**env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1"}
    header = json.loads(out.read_text().splitlines()[0])
    (tmp_path / "d.json").write_text(json.dumps(header["digest"]))
    for f in (out, part):
        done = subprocess.run(
            [*run, "verify", "--file", str(f), "--digest", str(tmp_path / "d.json")],
            env=offline,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "events verify" in done.stdout, done.stderr
    out.write_text(out.read_text().replace('"n":1', '"n":2', 1))
    done = subprocess.run(
        [*run, "verify", "--file", str(out)], env=offline, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "breaks the chain" in done.stderr
