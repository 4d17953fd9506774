"""Webhook fan-out: the dispatcher turns each subscribed event of a merchant with a URL into an owed delivery.

A delivery's id derives from (source event, merchant, public event), and its stream is created with expected
version 0, so dispatching the same event again schedules nothing more. The body is rendered here, once, from
the read rows as they stood at that event, and every attempt sends exactly these bytes.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

import commands
import ledger
import projections
from commands import webhook
from projections import bodies, merchants, orders, payments, refunds
from projections.timefmt import micro

#: The ``actor`` in the metadata of deliveries scheduled here.
ACTOR = "dispatcher"
#: Namespace of delivery ids derived from source events.
DELIVERY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://paygate/webhook-deliveries")


def delivery_id(source_event_id: uuid.UUID, merchant_id: str, event: str) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{source_event_id}:{merchant_id}:{event}"))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _payment_as_of(e: ledger.Recorded, row: dict[str, Any]) -> dict[str, Any]:
    """The payment row as it stood right after ``e``: the fields ``e`` settles, before any later change."""
    d = e.data
    as_of = {**row, "captured": False, "amount_refunded": 0, "error_code": None, "error_description": None}
    match e.type:
        case "payment.created.v1":
            return as_of | {"status": "pending", "updated_at": _at(d["created_at"])}
        case "payment.succeeded.v1":
            return as_of | {"status": "success", "updated_at": _at(d["decided_at"])}
        case "payment.captured.v1":
            return as_of | {"status": "success", "captured": True, "updated_at": _at(d["captured_at"])}
        case _:
            return as_of | {
                "status": "failed",
                "error_code": d["error_code"],
                "error_description": d["error_description"],
                "updated_at": _at(d["decided_at"]),
            }


def _order_as_of(e: ledger.Recorded, row: dict[str, Any]) -> dict[str, Any]:
    match e.type:
        case "payment.created.v1":
            return {**row, "status": "created", "updated_at": row["created_at"]}
        case "payment.succeeded.v1":
            return {**row, "status": "paid", "updated_at": _at(e.data["decided_at"])}
        case _:
            return row


def _refund_as_of(e: ledger.Recorded, row: dict[str, Any]) -> dict[str, Any]:
    if e.type == "refund.requested.v1":
        return {**row, "status": "pending", "processed_at": None}
    return {**row, "status": "processed", "processed_at": _at(e.data["processed_at"])}


async def _data(conn: psycopg.AsyncConnection[Any], events: list[ledger.Recorded]) -> dict[uuid.UUID, dict[str, Any]]:
    """The ``data`` object of each event's body: ``payment`` and its ``order``, or ``refund``."""
    pay = await payments.by_ids(conn, sorted({e.data["payment_id"] for e in events if e.type.startswith("payment.")}))
    ords = await orders.by_ids(conn, sorted({p["order_id"] for p in pay.values()}))
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for e in events:
        if e.type.startswith("refund."):
            row = await refunds.get(conn, e.data["refund_id"], None)
            if row is not None:
                out[e.event_id] = {"refund": bodies.refund(_refund_as_of(e, row))}
        elif (p := pay.get(e.data["payment_id"])) is not None:
            data = {"payment": bodies.payment(_payment_as_of(e, p))}
            if (o := ords.get(p["order_id"])) is not None:
                data["order"] = bodies.order(_order_as_of(e, o))
            out[e.event_id] = data
    return out


def _owed(e: ledger.Recorded, merchant_id: str, subscribed: list[str], data: dict[str, Any], at: str) -> list[Any]:
    return [
        webhook.ScheduleWebhook(
            delivery_id=delivery_id(e.event_id, merchant_id, name),
            merchant_id=merchant_id,
            event=name,
            body=bodies.webhook_envelope(name, int(e.recorded_at.timestamp()), data),
            occurred_at=at,
            source_event_id=str(e.event_id),
        )
        for name in webhook.SOURCES[e.type]
        if name in (subscribed or webhook.DEFAULT_EVENTS)
    ]


async def schedule(conn: psycopg.AsyncConnection[Any], events: list[ledger.Recorded]) -> list[str]:
    """Schedule the deliveries these events owe, in one statement; returns the ids of the new ones."""
    sourced = [e for e in events if e.type in webhook.SOURCES and "merchant_id" in e.data]
    if not sourced:
        return []
    configs = await merchants.webhook_configs(conn, sorted({e.data["merchant_id"] for e in sourced}))
    sourced = [e for e in sourced if e.data["merchant_id"] in configs]
    if not sourced:
        return []
    data = await _data(conn, sourced)
    # Scheduled now, not at the source event: the first attempt's redrive grace counts from here, so a
    # dispatcher that was down for a while does not make its own fresh messages look lost.
    at = micro(datetime.now(UTC))
    owed = [
        (e, command)
        for e in sourced
        if e.event_id in data
        for command in _owed(e, e.data["merchant_id"], configs[e.data["merchant_id"]][1], data[e.event_id], at)
    ]
    batch = {
        webhook.stream_id(command.delivery_id): commands.Saving(
            webhook.stream_id(command.delivery_id),
            webhook.decide(webhook.initial_state, command),
            0,
            {"actor": ACTOR, "merchant_id": command.merchant_id, "causation_id": str(e.event_id)},
        )
        for e, command in owed
    }
    # One statement, so atomic with no transaction around it (the dispatcher runs none): a delivery whose stream
    # exists was scheduled by an earlier run of its event (nothing more is owed), and holds up no other.
    session = commands.Session(conn, projections.project_inline)
    saved = await session.save_batch(list(batch.values()), one_statement=True)
    return [command.delivery_id for _, command in owed if webhook.stream_id(command.delivery_id) in saved]
