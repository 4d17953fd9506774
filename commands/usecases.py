"""Use cases that read one aggregate to decide on another: paying an order, settling a payment."""

from typing import Any

import psycopg

import ledger
from commands import merchant, order, payment
from commands.errors import DuplicateMerchant, OrderNotFound
from commands.handler import Also, Session, handle
from ledger import vault


async def register_merchant(session: Session, command: merchant.RegisterMerchant) -> bool:
    """Register a merchant once; True if this call registered it.

    Raises:
        DuplicateMerchant: another merchant holds this email or API key.
    """
    try:
        async with session.conn.transaction():
            # The data key is made in the same transaction as the registration, so the two exist together.
            key = await vault.data_key(session.conn, command.merchant_id, create=True)
            assert key is not None
            c, mid = command, command.merchant_id
            sealed = merchant.Register(
                merchant_id=mid,
                name=c.name,
                email=c.email,
                api_key=c.api_key,
                api_secret_hash=vault.current().lookup_hash(c.api_secret),
                api_secret_sealed=vault.seal(key, c.api_secret, mid),
                webhook_secret_sealed=vault.seal(key, c.webhook_secret, mid),
                occurred_at=c.occurred_at,
                password_hash=c.password_hash,
            )
            events = await handle(session, merchant, merchant.stream_id(mid), sealed)
    except psycopg.errors.UniqueViolation as e:
        raise DuplicateMerchant("a merchant with this email or API key already exists") from e
    return bool(events)


async def load_order(session: Session, order_id: str, merchant_id: str | None) -> order.Order:
    """The order, if it exists and (when ``merchant_id`` is given) belongs to that merchant.

    Raises:
        OrderNotFound: no such order for this merchant.
    """
    state, _ = await session.load(order, order.stream_id(order_id))
    if not isinstance(state, order.Order) or (merchant_id is not None and state.merchant_id != merchant_id):
        raise OrderNotFound()
    return state


async def create_payment(
    session: Session, command: payment.CreatePayment, also: Also | None = None
) -> payment.PaymentCreated:
    """Create a pending payment on the command's order (already loaded and checked by the caller); ``also``: what
    rides in its append (``commands.handle``)."""
    events = await handle(
        session, payment, payment.stream_id(command.payment_id), command, new_stream=True, also=also
    )
    created = events[0]
    assert isinstance(created, payment.PaymentCreated)
    return created


async def settle_payment(session: Session, payment_id: str, verdict: payment.DecidePayment) -> list[Any]:
    """Decide a pending payment once; a success also marks its order paid, in the same transaction.

    An order takes one successful payment: when another payment paid it first, this one fails instead.
    Both streams are appended with the versions read, so a racing settlement reloads and finds the work done.
    """
    for attempt in range(5):
        try:
            async with session.conn.transaction():
                p_state, p_version = await session.load(payment, payment.stream_id(payment_id))
                if not isinstance(p_state, payment.PendingPayment):
                    return []
                o_stream = order.stream_id(p_state.order_id)
                o_state, o_version = await session.load(order, o_stream)
                if isinstance(o_state, order.Order) and o_state.paid and verdict.error_description is None:
                    verdict = payment.DecidePayment(verdict.occurred_at, "Order already paid by another payment")
                decided = payment.decide(p_state, verdict)
                await session.save(payment.stream_id(payment_id), decided, p_version)
                if verdict.error_description is None:
                    paid = order.decide(o_state, order.MarkOrderPaid(payment_id, verdict.occurred_at))
                    await session.save(o_stream, paid, o_version)
                return list(decided)
        except ledger.ConcurrencyConflict:
            if attempt == 4:
                raise
    return []
