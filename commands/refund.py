"""Refunds of a payment: their commands, events and rules, decided inside the payment's own stream.

A refund has no stream of its own: its events are appended to ``payment-{id}``, so the amount still
refundable is checked against the version of the payment the decider read, and two concurrent refunds can
never both spend the same money. ``commands.payment`` is the one decider of that stream; this module holds
the refund half of its messages and the pure rules it delegates to.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from commands.errors import FullyRefunded, InvalidTransition, RefundExceedsAvailable, ValidationFailed

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class RequestRefund:
    """Refund ``amount`` (paise) of a payment; ``amount`` None refunds what is left of it."""

    refund_id: str
    payment_id: str
    merchant_id: str
    amount: int | None
    reason: str | None
    occurred_at: str
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessRefund:
    """The refund processor's confirmation that the money went back."""

    refund_id: str
    occurred_at: str


Command = RequestRefund | ProcessRefund

# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class RefundRequested:
    TYPE = "refund.requested.v1"
    refund_id: str
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    reason: str | None
    requested_at: str
    #: Added later: refunds requested before it have none.
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundProcessed:
    TYPE = "refund.processed.v1"
    refund_id: str
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    processed_at: str


Event = RefundRequested | RefundProcessed

# ---------------------------------------------------------------- state (a part of the payment's state)


@dataclass(frozen=True)
class Refund:
    refund_id: str
    amount: int
    processed: bool = False


Refunds = tuple[Refund, ...]


def committed(refunds: Refunds) -> int:
    """Money already promised back: every refund counts, pending or processed (none ever fails)."""
    return sum(r.amount for r in refunds)


def find(refunds: Refunds, refund_id: str) -> Refund | None:
    return next((r for r in refunds if r.refund_id == refund_id), None)


# ---------------------------------------------------------------- rules


def request(refunds: Refunds, c: RequestRefund, *, payment_amount: int, currency: str, merchant_id: str) -> list[Event]:
    """The refund ``c`` asks for, if the payment still has that much to give back.

    Raises:
        ValidationFailed: the amount is not positive.
        FullyRefunded: no amount given and nothing is left to refund.
        RefundExceedsAvailable: more than the payment amount minus its pending and processed refunds.
        InvalidTransition: a refund with this id exists already.
    """
    if find(refunds, c.refund_id) is not None:
        raise InvalidTransition("refund already exists")
    left = payment_amount - committed(refunds)
    if c.amount is None and left < 1:
        raise FullyRefunded()
    amount = left if c.amount is None else c.amount
    if amount < 1:
        raise ValidationFailed("amount must be a positive integer", field="amount")
    if amount > left:
        raise RefundExceedsAvailable()
    return [RefundRequested(c.refund_id, c.payment_id, merchant_id, amount, currency, c.reason, c.occurred_at, c.notes)]


def process(refunds: Refunds, c: ProcessRefund, *, payment_id: str, merchant_id: str, currency: str) -> list[Event]:
    """The refund marked processed once; a repeat (redelivered job, sweeper) decides nothing.

    Raises:
        InvalidTransition: the payment has no such refund.
    """
    refund = find(refunds, c.refund_id)
    if refund is None:
        raise InvalidTransition("refund does not exist")
    if refund.processed:
        return []
    return [RefundProcessed(c.refund_id, payment_id, merchant_id, refund.amount, currency, c.occurred_at)]


def added(refunds: Refunds, e: RefundRequested) -> Refunds:
    return (*refunds, Refund(e.refund_id, e.amount))


def marked_processed(refunds: Refunds, e: RefundProcessed) -> Refunds:
    return tuple(replace(r, processed=True) if r.refund_id == e.refund_id else r for r in refunds)
