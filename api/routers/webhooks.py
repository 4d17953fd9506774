"""Webhooks: the merchant's configuration and secret, a test event, the delivery log and manual retries."""

import secrets
import string
import uuid
from typing import Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.deps import ConnDep, IdempotencyDep, MerchantDep, SessionDep, SettingsDep
from api.ids import now, stamp
from api.responses import JSON
from api.schemas import (
    MAX_SKIP,
    READ,
    READ_ONE,
    WRITE,
    WebhookConfigIn,
    WebhookConfigOut,
    WebhookLogDetailOut,
    WebhookLogsOut,
    WebhookRetryOut,
    errors,
)
from api.strictjson import StrictJsonRoute
from commands import merchant as merchants_agg
from commands import targets, webhook
from commands.errors import InvalidTransition, ValidationFailed, WebhookNotFound
from commands.handler import Session, handle
from ledger import vault
from projections import bodies, merchants, webhook_logs

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=StrictJsonRoute)

_SECRET_ALPHABET = string.ascii_letters + string.digits


def new_secret() -> str:
    """``whsec_`` and 32 characters of [A-Za-z0-9] from the OS's cryptographic random source."""
    return "whsec_" + "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(32))


async def _config(session: Session, merchant_id: str) -> JSON:
    row = await merchants.webhook_config(session.conn, merchant_id)
    assert row is not None  # the merchant just authenticated
    return JSON(
        {
            "url": row["webhook_url"],
            "events": list(row["webhook_events"] or webhook.DEFAULT_EVENTS),
            "secret": row["webhook_secret"],
        }
    )


async def _change(session: Session, merchant_id: str, command: Any) -> JSON:
    session.metadata["merchant_id"] = merchant_id
    await handle(session, merchants_agg, merchants_agg.stream_id(merchant_id), command)
    return await _config(session, merchant_id)


@router.get("/config", response_model=WebhookConfigOut, responses=errors(*READ))
async def get_config(merchant: MerchantDep, session: SessionDep) -> JSON:
    return await _config(session, merchant.id)


@router.put("/config", response_model=WebhookConfigOut, responses=errors(*READ, "CONFLICT_ERROR"))
async def put_config(body: WebhookConfigIn, merchant: MerchantDep, session: SessionDep, settings: SettingsDep) -> JSON:
    if body.url is not None:
        try:  # what can be known without resolving; every delivery checks the resolved addresses again
            targets.check_url(
                body.url,
                allow_private=settings.allow_private_networks,
                require_https=settings.paygate_env == "production",
            )
        except targets.Refused as exc:
            raise ValidationFailed(str(exc), field="url") from None
    events = None if body.events is None else tuple(body.events)
    command = merchants_agg.ConfigureWebhook(merchant.id, body.url, events, stamp(now()))
    return await _change(session, merchant.id, command)


@router.post("/config/secret", response_model=WebhookConfigOut, responses=errors(*READ, "CONFLICT_ERROR"))
async def rotate_secret(merchant: MerchantDep, session: SessionDep) -> JSON:
    async with session.conn.transaction():
        key = await vault.data_key(session.conn, merchant.id)
        if key is None:  # shredded: this merchant's secrets were forgotten on purpose
            raise InvalidTransition("this merchant's keys were deleted")
        sealed = vault.seal(key, new_secret(), merchant.id)
        return await _change(session, merchant.id, merchants_agg.RotateWebhookSecret(merchant.id, sealed, stamp(now())))


@router.post("/test", status_code=201, responses=errors(*READ, "CONFLICT_ERROR"))
async def send_test(merchant: MerchantDep, session: SessionDep, idem: IdempotencyDep) -> Response:
    async def work() -> Response:
        config = await merchants.webhook_config(session.conn, merchant.id)
        if config is None or not config["webhook_url"]:
            raise ValidationFailed("Webhook URL is not configured", field="url")
        at, delivery_id = now(), str(uuid.uuid4())
        data = {"test": True, "message": "A test event from paygate", "merchant_id": merchant.id}
        command = webhook.ScheduleWebhook(
            delivery_id=delivery_id,
            merchant_id=merchant.id,
            event=webhook.TEST_EVENT,
            body=bodies.webhook_envelope(webhook.TEST_EVENT, int(at.timestamp()), data),
            occurred_at=stamp(at),
        )
        session.metadata["merchant_id"] = merchant.id
        await handle(session, webhook, webhook.stream_id(delivery_id), command)
        return JSON({"id": delivery_id}, status_code=201)

    return await idem.once(merchant.id, work)


@router.get("", response_model=WebhookLogsOut, responses=errors(*READ))
async def list_webhooks(
    merchant: MerchantDep,
    conn: ConnDep,
    limit: int = Query(10, ge=1, le=100),
    offset: int = Query(0, ge=0, le=MAX_SKIP),
) -> JSON:
    rows, total = await webhook_logs.page(conn, merchant.id, limit=limit, offset=offset)
    return JSON({"data": [bodies.webhook_log(r) for r in rows], "total": total, "limit": limit, "offset": offset})


async def _log(conn: Any, webhook_id: str, merchant_id: str) -> dict[str, Any]:
    try:
        uuid.UUID(webhook_id)
    except ValueError:
        raise WebhookNotFound() from None
    row = await webhook_logs.get(conn, webhook_id, merchant_id)
    if row is None:
        raise WebhookNotFound()
    return row


@router.get("/{webhook_id}", response_model=WebhookLogDetailOut, responses=errors(*READ_ONE))
async def get_webhook(webhook_id: str, merchant: MerchantDep, conn: ConnDep) -> JSON:
    return JSON(bodies.webhook_log_detail(await _log(conn, webhook_id, merchant.id)))


@router.post("/{webhook_id}/retry", response_model=WebhookRetryOut, responses=errors(*WRITE))
async def retry_webhook(webhook_id: str, merchant: MerchantDep, session: SessionDep) -> JSON:
    await _log(session.conn, webhook_id, merchant.id)
    session.metadata["merchant_id"] = merchant.id
    await handle(session, webhook, webhook.stream_id(webhook_id), webhook.RequestRetry(stamp(now())))
    return JSON({"id": webhook_id, "status": "pending", "message": "Webhook retry scheduled"})
