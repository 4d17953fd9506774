"""Secrets at rest: keyed lookup hashes and per-merchant data keys held outside the event log.

The server key (``SIGNING_KEY``) yields two sub-keys: one for HMAC-SHA256 lookup hashes of API secrets, one
that wraps each merchant's random data key (AES-256-GCM). A merchant's secrets are stored only as ciphertext
under its data key, whose wrapped form lives in ``merchant_keys``: deleting that row forgets them for good
(crypto-shredding) while the append-only log, which holds only hashes and ciphertext, still reads.
"""

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: Placeholder values an operator might leave in place; production refuses them.
DEFAULT_SIGNING_KEYS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "secret",
        "dev",
        "development",
        "paygate",
        "compose-development-signing-key-change-me",
    }
)
MIN_SIGNING_KEY_LENGTH = 32
_NONCE = 12


class VaultError(RuntimeError):
    """No usable server key, or a ciphertext that cannot be opened with the keys at hand."""


def load_server_key(configured: str | None, data_dir: Path, *, production: bool) -> bytes:
    """The server key: ``configured``, or in development one generated once into ``data_dir``.

    Raises:
        VaultError: production with a missing, default or short key.
    """
    if configured is not None and configured.strip():
        if production and (configured in DEFAULT_SIGNING_KEYS or len(configured) < MIN_SIGNING_KEY_LENGTH):
            raise VaultError(f"SIGNING_KEY must be a non-default value of at least {MIN_SIGNING_KEY_LENGTH} characters")
        return configured.encode()
    if production:
        raise VaultError("PAYGATE_ENV=production needs SIGNING_KEY (a random value of 32+ characters)")
    path = data_dir / "signing.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".signing.key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        # link() fails if another process won the race: every process then reads the one winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return path.read_text().strip().encode()


class Vault:
    """The server key's two uses: lookup hashes and wrapping data keys."""

    def __init__(self, server_key: bytes) -> None:
        self._lookup = hmac.new(server_key, b"paygate/lookup-hash/v1", hashlib.sha256).digest()
        self._wrap = AESGCM(hmac.new(server_key, b"paygate/key-wrap/v1", hashlib.sha256).digest())

    def lookup_hash(self, secret: str) -> str:
        """HMAC-SHA256 of a secret, hex: what authentication compares (in constant time)."""
        return hmac.new(self._lookup, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, expected_hash: str | None) -> bool:
        return hmac.compare_digest(self.lookup_hash(secret), expected_hash or "0" * 64)

    def wrap(self, data_key: bytes, merchant_id: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._wrap.encrypt(nonce, data_key, merchant_id.encode())

    def unwrap(self, wrapped: bytes, merchant_id: str) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], merchant_id.encode())
        except InvalidTag:
            raise VaultError("a merchant data key does not open with this SIGNING_KEY") from None


def seal(data_key: bytes, plaintext: str, merchant_id: str) -> str:
    """AES-GCM ciphertext of ``plaintext`` (bound to the merchant), as URL-safe base64 for JSON."""
    nonce = os.urandom(_NONCE)
    box = AESGCM(data_key).encrypt(nonce, plaintext.encode(), merchant_id.encode())
    return base64.urlsafe_b64encode(nonce + box).decode()


def open_sealed(data_key: bytes, sealed: str, merchant_id: str) -> str:
    raw = base64.urlsafe_b64decode(sealed)
    try:
        return AESGCM(data_key).decrypt(raw[:_NONCE], raw[_NONCE:], merchant_id.encode()).decode()
    except InvalidTag:
        raise VaultError("a merchant secret does not open with its data key") from None


_current: Vault | None = None


def install(server_key: bytes) -> Vault:
    """Make this process's vault (each entry point calls it once at start-up)."""
    global _current
    _current = Vault(server_key)
    return _current


def current() -> Vault:
    if _current is None:
        raise VaultError("no server key installed in this process (ledger.vault.install)")
    return _current


async def data_key(conn: psycopg.AsyncConnection[Any], merchant_id: str, *, create: bool = False) -> bytes | None:
    """The merchant's data key (made now when ``create``); None when it was shredded or never made.

    Creating is safe under concurrent registrations: the losing insert waits for the winner and reads its key.
    """
    v = current()
    if create:
        await conn.execute(
            "INSERT INTO merchant_keys (merchant_id, wrapped_key) VALUES (%s, %s) ON CONFLICT (merchant_id) DO NOTHING",
            (merchant_id, v.wrap(AESGCM.generate_key(bit_length=256), merchant_id)),
        )
    cur = await conn.execute("SELECT wrapped_key FROM merchant_keys WHERE merchant_id = %s", (merchant_id,))
    row = await cur.fetchone()
    return None if row is None else v.unwrap(bytes(row[0]), merchant_id)


def reveal(wrapped_key: bytes | None, sealed: str | None, merchant_id: str) -> str | None:
    """The plaintext of ``sealed`` given the merchant's wrapped data key; None when either is gone."""
    if wrapped_key is None or sealed is None:
        return None
    return open_sealed(current().unwrap(bytes(wrapped_key), merchant_id), sealed, merchant_id)
