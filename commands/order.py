"""The order aggregate: created with an amount, paid once by one successful payment."""

from dataclasses import dataclass, field, replace
from typing import Any, assert_never

from commands.currencies import CODES
from commands.errors import ValidationFailed
from commands.records import quick

#: Smallest order amount in paise (SPEC.md).
MIN_AMOUNT = 100
#: Hard ceiling of the setting below: the biggest integer every JSON reader keeps exact (JavaScript's
#: Number.MAX_SAFE_INTEGER).
MAX_AMOUNT = 2**53 - 1
#: Default largest order (MAX_ORDER_AMOUNT): ₹10 crore, as payment gateways cap a single order. At this cap a
#: merchant needs 922 million maximal orders to reach a bigint (2**63) sum, and 900,000 to pass 2**53 — far
#: beyond a realistic history, while sums are kept in numeric anyway so no history can overflow them.
DEFAULT_MAX_ORDER_AMOUNT = 10_000_000_000

# ---------------------------------------------------------------- commands


@quick
@dataclass(frozen=True)
class CreateOrder:
    order_id: str
    merchant_id: str
    amount: int
    currency: str
    occurred_at: str
    receipt: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    #: The configured MAX_ORDER_AMOUNT, carried by the command so the decider stays pure.
    max_amount: int = DEFAULT_MAX_ORDER_AMOUNT


@quick
@dataclass(frozen=True)
class MarkOrderPaid:
    payment_id: str
    occurred_at: str


Command = CreateOrder | MarkOrderPaid

# ---------------------------------------------------------------- events


@quick
@dataclass(frozen=True)
class OrderCreated:
    TYPE = "order.created.v1"
    order_id: str
    merchant_id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    created_at: str


@quick
@dataclass(frozen=True)
class OrderPaid:
    TYPE = "order.paid.v1"
    order_id: str
    payment_id: str
    paid_at: str


Event = OrderCreated | OrderPaid

# ---------------------------------------------------------------- states


@quick
@dataclass(frozen=True)
class NoOrder:
    pass


@quick
@dataclass(frozen=True)
class Order:
    order_id: str
    merchant_id: str
    amount: int
    currency: str
    paid_by: str | None = None

    @property
    def paid(self) -> bool:
        return self.paid_by is not None


State = NoOrder | Order
initial_state: State = NoOrder()


def stream_id(order_id: str) -> str:
    return f"order-{order_id}"


def _check_new(c: CreateOrder) -> None:
    if isinstance(c.amount, bool) or not isinstance(c.amount, int) or c.amount < MIN_AMOUNT:
        raise ValidationFailed(f"amount must be at least {MIN_AMOUNT}", field="amount")
    if c.amount > min(c.max_amount, MAX_AMOUNT):
        raise ValidationFailed(f"amount must be at most {min(c.max_amount, MAX_AMOUNT)}", field="amount")
    if c.currency not in CODES:
        raise ValidationFailed("currency must be an ISO 4217 code, such as INR", field="currency")


def decide(state: State, command: Command) -> list[Event]:
    """Raises ValidationFailed for a bad order; marking a paid order paid again is a no-op."""
    match command:
        case CreateOrder() as c:
            if isinstance(state, Order):
                raise ValidationFailed("order already exists")
            _check_new(c)
            return [OrderCreated(c.order_id, c.merchant_id, c.amount, c.currency, c.receipt, c.notes, c.occurred_at)]
        case MarkOrderPaid() as c:
            if not isinstance(state, Order):
                raise ValidationFailed("order does not exist")
            return [] if state.paid else [OrderPaid(state.order_id, c.payment_id, c.occurred_at)]
        case _:
            assert_never(command)


def evolve(state: State, event: Event) -> State:
    match event:
        case OrderCreated() as e:
            return Order(e.order_id, e.merchant_id, e.amount, e.currency)
        case OrderPaid() as e:
            return replace(state, paid_by=e.payment_id) if isinstance(state, Order) else state
        case _:
            assert_never(event)


def is_terminal(state: State) -> bool:
    return isinstance(state, Order) and state.paid
