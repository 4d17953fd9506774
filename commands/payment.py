"""The payment aggregate: created pending against an order, decided once (success or failure); a successful one
is captured once and refunded up to its amount (the refund rules live in ``commands.refund``)."""

from dataclasses import dataclass, replace
from typing import assert_never

from commands import refund
from commands.errors import (
    InvalidTransition,
    NotCapturable,
    NotRefundable,
    OrderAlreadyPaid,
    PaymentNotFound,
    ValidationFailed,
)
from commands.instruments import CardDetails, check_card, check_vpa
from commands.records import quick

METHODS = ("upi", "card")

# ---------------------------------------------------------------- commands


@quick
@dataclass(frozen=True)
class OrderSnapshot:
    """What a payment needs to know of its order, loaded by the handler."""

    order_id: str
    amount: int
    currency: str
    paid: bool


@quick
@dataclass(frozen=True)
class CreatePayment:
    payment_id: str
    merchant_id: str
    order: OrderSnapshot
    method: str
    occurred_at: str
    year: int
    month: int
    vpa: str | None = None
    card: CardDetails | None = None


@quick
@dataclass(frozen=True)
class DecidePayment:
    """The processor's verdict; ``error_description`` set means failure."""

    occurred_at: str
    error_description: str | None = None


@quick
@dataclass(frozen=True)
class CapturePayment:
    """Capture a successful payment, in full; ``currency`` None means the payment's own."""

    merchant_id: str
    amount: int
    occurred_at: str
    currency: str | None = None


Command = CreatePayment | DecidePayment | CapturePayment | refund.RequestRefund | refund.ProcessRefund

# ---------------------------------------------------------------- events


@quick
@dataclass(frozen=True)
class PaymentCreated:
    TYPE = "payment.created.v1"
    payment_id: str
    order_id: str
    merchant_id: str
    amount: int
    currency: str
    method: str
    vpa: str | None
    card_network: str | None
    card_last4: str | None
    created_at: str


@quick
@dataclass(frozen=True)
class PaymentSucceeded:
    TYPE = "payment.succeeded.v1"
    payment_id: str
    order_id: str
    merchant_id: str
    amount: int
    currency: str
    decided_at: str


@quick
@dataclass(frozen=True)
class PaymentFailed:
    TYPE = "payment.failed.v1"
    payment_id: str
    order_id: str
    merchant_id: str
    error_code: str
    error_description: str
    decided_at: str


@quick
@dataclass(frozen=True)
class PaymentCaptured:
    TYPE = "payment.captured.v1"
    payment_id: str
    merchant_id: str
    amount: int
    captured_at: str


Event = (
    PaymentCreated
    | PaymentSucceeded
    | PaymentFailed
    | PaymentCaptured
    | refund.RefundRequested
    | refund.RefundProcessed
)

# ---------------------------------------------------------------- states


@quick
@dataclass(frozen=True)
class NoPayment:
    pass


@quick
@dataclass(frozen=True)
class PendingPayment:
    payment_id: str
    order_id: str
    merchant_id: str
    amount: int
    currency: str
    method: str


@quick
@dataclass(frozen=True)
class SucceededPayment:
    payment: PendingPayment
    captured: bool = False
    refunds: refund.Refunds = ()


@quick
@dataclass(frozen=True)
class FailedPayment:
    payment: PendingPayment


State = NoPayment | PendingPayment | SucceededPayment | FailedPayment
initial_state: State = NoPayment()


def stream_id(payment_id: str) -> str:
    return f"payment-{payment_id}"


def _created(c: CreatePayment) -> PaymentCreated:
    if c.order.paid:
        raise OrderAlreadyPaid()
    vpa = network = last4 = None
    # The fields of the chosen method only: a card sent with a UPI payment is a mistake to report, not to drop.
    if c.method == "upi" and c.card is not None:
        raise ValidationFailed("card is not accepted for upi payments", field="card")
    if c.method == "card" and c.vpa is not None:
        raise ValidationFailed("vpa is not accepted for card payments", field="vpa")
    if c.method == "upi":
        vpa = check_vpa(c.vpa)
    elif c.method == "card":
        card = check_card(c.card, year=c.year, month=c.month)
        network, last4 = card.network, card.last4
    else:
        raise ValidationFailed("method must be one of: upi, card", field="method")
    o = c.order
    return PaymentCreated(
        c.payment_id,
        o.order_id,
        c.merchant_id,
        o.amount,
        o.currency,
        c.method,
        vpa,
        network,
        last4,
        c.occurred_at,
    )


def _owned(state: State, merchant_id: str) -> bool:
    """Whether the payment exists and is ``merchant_id``'s: anybody else is told it does not exist."""
    match state:
        case NoPayment():
            return False
        case PendingPayment() as p:
            return p.merchant_id == merchant_id
        case SucceededPayment(payment=p) | FailedPayment(payment=p):
            return p.merchant_id == merchant_id
        case _:
            assert_never(state)


def decide(state: State, command: Command) -> list[Event]:
    """Raises a DomainError when the payment cannot be created; deciding twice returns no events."""
    match command, state:
        case CreatePayment() as c, NoPayment():
            return [_created(c)]
        case CreatePayment(), _:
            raise InvalidTransition("payment already exists")
        case DecidePayment(error_description=None) as c, PendingPayment() as p:
            return [PaymentSucceeded(p.payment_id, p.order_id, p.merchant_id, p.amount, p.currency, c.occurred_at)]
        case DecidePayment() as c, PendingPayment() as p:
            return [
                PaymentFailed(
                    p.payment_id,
                    p.order_id,
                    p.merchant_id,
                    "PAYMENT_FAILED",
                    str(c.error_description),
                    c.occurred_at,
                )
            ]
        case DecidePayment(), SucceededPayment() | FailedPayment():
            return []  # already decided: a redelivered job changes nothing
        case DecidePayment(), _:
            raise InvalidTransition("payment does not exist")
        case CapturePayment() as c, _ if not _owned(state, c.merchant_id):
            raise PaymentNotFound()
        case CapturePayment() as c, SucceededPayment(payment=p, captured=False):
            if c.amount != p.amount:
                raise ValidationFailed("amount must equal the payment amount", field="amount")
            if c.currency not in (None, p.currency):
                raise ValidationFailed("currency must equal the payment currency", field="currency")
            return [PaymentCaptured(p.payment_id, p.merchant_id, p.amount, c.occurred_at)]
        case CapturePayment(), _:
            raise NotCapturable()
        case refund.RequestRefund() as c, _ if not _owned(state, c.merchant_id):
            raise PaymentNotFound()
        case refund.RequestRefund() as c, SucceededPayment(payment=p) as s:
            return list(
                refund.request(s.refunds, c, payment_amount=p.amount, currency=p.currency, merchant_id=p.merchant_id)
            )
        case refund.RequestRefund(), _:
            raise NotRefundable()
        case refund.ProcessRefund() as c, SucceededPayment(payment=p) as s:
            return list(
                refund.process(s.refunds, c, payment_id=p.payment_id, merchant_id=p.merchant_id, currency=p.currency)
            )
        case refund.ProcessRefund(), _:
            raise InvalidTransition("refund does not exist")
        case _:
            assert_never(command)


def evolve(state: State, event: Event) -> State:
    match event, state:
        case PaymentCreated() as e, _:
            return PendingPayment(e.payment_id, e.order_id, e.merchant_id, e.amount, e.currency, e.method)
        case PaymentSucceeded(), PendingPayment() as p:
            return SucceededPayment(p)
        case PaymentFailed(), PendingPayment() as p:
            return FailedPayment(p)
        case PaymentCaptured(), SucceededPayment() as s:
            return replace(s, captured=True)
        case refund.RefundRequested() as e, SucceededPayment() as s:
            return replace(s, refunds=refund.added(s.refunds, e))
        case refund.RefundProcessed() as e, SucceededPayment() as s:
            return replace(s, refunds=refund.marked_processed(s.refunds, e))
        case _:
            return state


def is_terminal(state: State) -> bool:
    return isinstance(state, FailedPayment)
