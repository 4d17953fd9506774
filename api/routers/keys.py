"""API key rotation: a new key pair, shown once; the old pair keeps working for a grace period."""

import secrets
from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import MerchantDep, SessionDep, SettingsDep
from api.ids import now, stamp
from api.responses import JSON
from api.schemas import ERRORS
from commands import merchant as merchants_agg
from commands.errors import InvalidTransition
from commands.handler import handle
from ledger import vault

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=ERRORS)


class KeysRotatedOut(BaseModel):
    api_key: str
    api_secret: str
    previous_key_expires_at: str


def _token(n: int) -> str:
    return secrets.token_urlsafe(n).replace("-", "a").replace("_", "b")


@router.post("/rotate", response_model=KeysRotatedOut)
async def rotate(merchant: MerchantDep, session: SessionDep, settings: SettingsDep) -> JSON:
    """Issue a new key pair. Its secret is in this answer only: the gateway keeps just a hash and ciphertext."""
    api_key, api_secret = "key_live_" + _token(12), "secret_live_" + _token(24)
    at = now()
    expires = stamp(at + timedelta(seconds=settings.api_key_grace_s))
    session.metadata["merchant_id"] = merchant.id
    async with session.conn.transaction():
        key = await vault.data_key(session.conn, merchant.id)
        if key is None:  # shredded: this merchant's secrets were forgotten on purpose
            raise InvalidTransition("this merchant's keys were deleted")
        command = merchants_agg.RotateApiKey(
            merchant_id=merchant.id,
            api_key=api_key,
            api_secret_hash=vault.current().lookup_hash(api_secret),
            api_secret_sealed=vault.seal(key, api_secret, merchant.id),
            previous_key_expires_at=expires,
            occurred_at=stamp(at),
        )
        await handle(session, merchants_agg, merchants_agg.stream_id(merchant.id), command)
    return JSON({"api_key": api_key, "api_secret": api_secret, "previous_key_expires_at": expires})
