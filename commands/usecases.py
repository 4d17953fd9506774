"""Use cases that read one aggregate to decide on another: paying an order, settling a payment."""

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg

import ledger
from commands import merchant, order, payment
from commands.errors import DomainError, DuplicateMerchant, OrderNotFound
from commands.handler import Also, Saving, Session, handle
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
    return _owned(state, merchant_id)


def _owned(state: order.State, merchant_id: str | None) -> order.Order:
    if not isinstance(state, order.Order) or (merchant_id is not None and state.merchant_id != merchant_id):
        raise OrderNotFound()
    return state


async def pay_order(
    session: Session,
    order_id: str,
    merchant_id: str | None,
    command_for: Callable[[order.Order], Awaitable[payment.CreatePayment]],
    also: Also | None = None,
) -> payment.PaymentCreated:
    """Create a pending payment on an order (when ``merchant_id`` is given, one of that merchant's), with the
    command ``command_for`` builds from it. The order comes from the session's snapshots when they hold it, with
    no read: the payment's append is then guarded by the order's version, and an order that moved on meanwhile
    (paid, say) is read again and the command built anew.

    Raises:
        OrderNotFound: no such order for this merchant.
        DomainError: the command breaks a rule.
    """
    stream = order.stream_id(order_id)
    for _ in range(2):
        state, version, known = await session.snapshot(order, stream)
        command = await command_for(_owned(state, merchant_id))
        try:
            return await create_payment(session, command, also, guard=(stream, version) if known else None)
        except ledger.ConcurrencyConflict:
            if not known:
                raise
            assert session.snapshots is not None
            session.snapshots.forget(stream)
    raise AssertionError("unreachable: the second try reads the order")


async def create_payment(
    session: Session,
    command: payment.CreatePayment,
    also: Also | None = None,
    guard: tuple[str, int] | None = None,
) -> payment.PaymentCreated:
    """Create a pending payment on the command's order (already loaded and checked by the caller); ``also`` and
    ``guard``: what rides in its append and what guards it (``commands.handle``)."""
    stream = payment.stream_id(command.payment_id)
    events = await handle(session, payment, stream, command, new_stream=True, also=also, guard=guard)
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


class _MovedOn(Exception):
    """A stream of the batch moved on after it was read: roll the batch back."""


async def settle_payments(
    session: Session, verdicts: Sequence[tuple[str, payment.DecidePayment]]
) -> dict[str, list[Any] | DomainError] | None:
    """``settle_payment`` for many payments at once: their streams and their orders' read in two statements,
    every decision appended in one, all in one transaction. Returns each payment's decided events (none: it was
    decided already), or the rule it broke; None, with nothing written, when a stream moved on after it was read
    (another worker decided meanwhile): the caller then settles them one by one.

    A batch that pays one order twice is decided as one by one would: the first success pays it, and the next
    finds it paid.
    """
    p_streams = {pid: payment.stream_id(pid) for pid, _ in verdicts}
    found = await session.load_many(payment, list(dict.fromkeys(p_streams.values())))
    pending = {pid: found[s] for pid, s in p_streams.items() if isinstance(found[s][0], payment.PendingPayment)}
    o_streams = {p_state.order_id: order.stream_id(p_state.order_id) for p_state, _ in pending.values()}
    orders = await session.load_many(order, sorted(set(o_streams.values())))
    out: dict[str, list[Any] | DomainError] = {}
    batch: dict[str, Saving] = {}
    for pid, verdict in verdicts:
        if pid in out:
            continue  # named twice: decided once
        if pid not in pending:
            out[pid] = []
            continue
        p_state, p_version = pending[pid]
        o_stream = o_streams[p_state.order_id]
        o_state, o_version = orders[o_stream]
        if isinstance(o_state, order.Order) and o_state.paid and verdict.error_description is None:
            verdict = payment.DecidePayment(verdict.occurred_at, "Order already paid by another payment")
        metadata = {**session.metadata, "causation": pid}
        try:
            decided = payment.decide(p_state, verdict)
            paid = (
                order.decide(o_state, order.MarkOrderPaid(pid, verdict.occurred_at))
                if verdict.error_description is None
                else []
            )
        except DomainError as exc:
            out[pid] = exc
            continue
        batch[p_streams[pid]] = Saving(p_streams[pid], decided, p_version, metadata)
        if paid:  # the first success pays the order; any later one of this batch finds it paid
            batch[o_stream] = Saving(o_stream, paid, o_version, metadata)
            orders[o_stream] = (functools.reduce(order.evolve, paid, o_state), o_version)
        out[pid] = list(decided)
    if not batch:
        return out
    try:
        async with session.conn.transaction():
            if len(await session.save_batch(list(batch.values()))) != len(batch):
                raise _MovedOn
    except _MovedOn:
        return None
    return out
