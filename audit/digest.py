"""Signed digests of the chain's head: chain_seq, hash, Merkle root and size, time, Ed25519 signature."""

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit import merkle, spec

KIND = "paygate.audit.digest.v1"
#: Every field of a digest; ``signature`` signs the canonical JSON of the others.
FIELDS = ("kind", "chain_seq", "position", "hash", "tree_size", "merkle_root", "time", "public_key", "signature")


class DigestError(Exception):
    """A digest that is malformed or whose signature does not hold."""


def signing_key(configured: str | None, data_dir: Path) -> Ed25519PrivateKey:
    """AUDIT_SIGNING_KEY (a 32-byte seed in hex), or one generated once into ``data_dir``."""
    if configured and configured.strip():
        seed = bytes.fromhex(configured.strip())
    else:
        path = data_dir / "audit-signing.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        seed = bytes.fromhex(path.read_text().strip())
    if len(seed) != 32:
        raise DigestError("AUDIT_SIGNING_KEY must be 64 hex digits (an Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def hex_bytes(text: Any, size: int | None = 32) -> bytes:
    """Lower-case hex of ``size`` bytes, and nothing else: another spelling of the same bytes would let a
    changed file still verify.

    Raises:
        DigestError: anything else.
    """
    try:
        raw = bytes.fromhex(text)
    except (ValueError, TypeError):
        raise DigestError("not hex") from None
    if raw.hex() != text or (size is not None and len(raw) != size):
        raise DigestError(f"not {size} bytes of lower-case hex")
    return raw


def _signed_bytes(digest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in digest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key: Ed25519PrivateKey, *, chain_seq: int, position: int, head: bytes, root: bytes) -> dict[str, Any]:
    digest: dict[str, Any] = {
        "kind": KIND,
        "chain_seq": chain_seq,
        "position": position,
        "hash": head.hex(),
        "tree_size": chain_seq,
        "merkle_root": root.hex(),
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "public_key": key.public_key().public_bytes_raw().hex(),
    }
    digest["signature"] = key.sign(_signed_bytes(digest)).hex()
    return digest


def check(digest: Any, public_key: str | None = None) -> dict[str, Any]:
    """``digest`` if well formed and signed by its own key (and that key is ``public_key`` when given).

    Raises:
        DigestError: a field is missing or malformed, or the signature does not hold.
    """
    if not isinstance(digest, dict) or set(digest) != set(FIELDS) or digest["kind"] != KIND:
        raise DigestError(f"a digest has exactly the fields {', '.join(FIELDS)}")
    if public_key is not None and digest["public_key"] != public_key.lower():
        raise DigestError("the digest is signed by another key than the one given")
    for name in ("hash", "merkle_root", "public_key"):
        hex_bytes(digest[name])
    try:
        key = Ed25519PublicKey.from_public_bytes(hex_bytes(digest["public_key"]))
        key.verify(hex_bytes(digest["signature"], 64), _signed_bytes(digest))
    except (InvalidSignature, ValueError, TypeError) as e:
        raise DigestError("the digest's signature does not hold") from e
    if not isinstance(digest["chain_seq"], int) or digest["tree_size"] != digest["chain_seq"]:
        raise DigestError("tree_size must equal chain_seq")
    return digest


async def head(conn: psycopg.AsyncConnection[Any]) -> tuple[int, int, bytes, bytes]:
    """(chain_seq, position, hash, Merkle root) of the chain as stored now."""
    leaves: list[bytes] = []
    last: tuple[int, int, bytes] = (0, 0, spec.GENESIS)
    async with conn.cursor() as cur:
        await cur.execute("SELECT chain_seq, position, hash, leaf FROM event_chain ORDER BY chain_seq")
        async for seq, position, h, leaf in cur:
            leaves.append(bytes(leaf))
            last = (seq, position, bytes(h))
    return last[0], last[1], last[2], merkle.root(leaves)


async def make(conn: psycopg.AsyncConnection[Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A signed digest of the stored chain's head."""
    seq, position, h, root = await head(conn)
    return sign(key, chain_seq=seq, position=position, head=h, root=root)
