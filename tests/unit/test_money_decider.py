"""Capture and refunds in the payment's own stream: who may, when, how much, and each refund processed once."""

import dataclasses
import functools

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st
from scenario import given

from commands import payment, refund
from commands.errors import (
    InvalidTransition,
    NotCapturable,
    NotRefundable,
    PaymentNotFound,
    RefundExceedsAvailable,
    ValidationFailed,
)

AT = "2030-06-15T10:00:00.000000Z"
LATER = "2030-06-15T10:00:05.000000Z"
MERCHANT = "550e8400-e29b-41d4-a716-446655440000"
STRANGER = "11111111-2222-3333-4444-555555555555"

CREATED = payment.PaymentCreated("pay_A", "order_A", MERCHANT, 50000, "INR", "upi", "a@b", None, None, AT)
SUCCEEDED = payment.PaymentSucceeded("pay_A", "order_A", MERCHANT, 50000, "INR", AT)
FAILED = payment.PaymentFailed("pay_A", "order_A", MERCHANT, "PAYMENT_FAILED", "declined", AT)
CAPTURED = payment.PaymentCaptured("pay_A", MERCHANT, 50000, AT)


def capture(amount: int = 50000, *, merchant: str = MERCHANT, currency: str | None = None) -> payment.CapturePayment:
    return payment.CapturePayment(merchant, amount, LATER, currency)


def ask(
    refund_id: str, amount: int | None, *, merchant: str = MERCHANT, reason: str | None = None
) -> refund.RequestRefund:
    return refund.RequestRefund(refund_id, "pay_A", merchant, amount, reason, LATER)


def requested(refund_id: str, amount: int, reason: str | None = None) -> refund.RefundRequested:
    return refund.RefundRequested(refund_id, "pay_A", MERCHANT, amount, "INR", reason, LATER)


def processed(refund_id: str, amount: int) -> refund.RefundProcessed:
    return refund.RefundProcessed(refund_id, "pay_A", MERCHANT, amount, "INR", LATER)


class TestCapture:
    def test_a_successful_payment_is_captured_for_its_whole_amount(self) -> None:
        given(payment, CREATED, SUCCEEDED).when(capture()).then(
            payment.PaymentCaptured("pay_A", MERCHANT, 50000, LATER)
        )

    def test_the_payments_own_currency_may_be_named(self) -> None:
        (event,) = given(payment, CREATED, SUCCEEDED).when(capture(currency="INR")).decided()
        assert isinstance(event, payment.PaymentCaptured)

    @pytest.mark.parametrize("amount", [49999, 50001, 0, -50000])
    def test_capture_of_another_amount_is_refused(self, amount: int) -> None:
        error = given(payment, CREATED, SUCCEEDED).when(capture(amount)).raises(ValidationFailed)
        assert error.field == "amount"

    def test_capture_in_another_currency_is_refused(self) -> None:
        given(payment, CREATED, SUCCEEDED).when(capture(currency="USD")).raises(ValidationFailed)

    @pytest.mark.parametrize(
        "past", [(CREATED,), (CREATED, FAILED), (CREATED, SUCCEEDED, CAPTURED)], ids=["pending", "failed", "captured"]
    )
    def test_only_a_successful_uncaptured_payment_is_capturable(self, past: tuple[payment.Event, ...]) -> None:
        error = given(payment, *past).when(capture()).raises(NotCapturable)
        assert (error.code, error.description) == ("BAD_REQUEST_ERROR", "Payment not in capturable state")

    def test_not_capturable_wins_over_a_wrong_amount(self) -> None:
        given(payment, CREATED).when(capture(1)).raises(NotCapturable)

    @pytest.mark.parametrize("past", [(), (CREATED, SUCCEEDED)], ids=["no payment", "another merchant's"])
    def test_a_payment_that_is_not_the_merchants_is_not_found(self, past: tuple[payment.Event, ...]) -> None:
        error = given(payment, *past).when(capture(merchant=STRANGER)).raises(PaymentNotFound)
        assert (error.code, error.description) == ("NOT_FOUND_ERROR", "Payment not found")


class TestRequestRefund:
    def test_a_partial_refund_of_a_successful_payment_is_requested(self) -> None:
        given(payment, CREATED, SUCCEEDED).when(ask("rfnd_1", 20000, reason="damaged")).then(
            requested("rfnd_1", 20000, "damaged")
        )

    def test_without_an_amount_the_whole_payment_is_refunded(self) -> None:
        given(payment, CREATED, SUCCEEDED).when(ask("rfnd_1", None)).then(requested("rfnd_1", 50000))

    def test_without_an_amount_after_a_partial_refund_what_is_left_is_refunded(self) -> None:
        past = (CREATED, SUCCEEDED, requested("rfnd_1", 20000), processed("rfnd_1", 20000), requested("rfnd_2", 5000))
        given(payment, *past).when(ask("rfnd_3", None)).then(requested("rfnd_3", 25000))

    def test_without_an_amount_a_fully_refunded_payment_says_so(self) -> None:
        error = (
            given(payment, CREATED, SUCCEEDED, requested("rfnd_1", 50000))
            .when(ask("rfnd_2", None))
            .raises(RefundExceedsAvailable)
        )
        assert error.description == "Payment has been fully refunded already"

    def test_a_refund_keeps_its_notes(self) -> None:
        command = dataclasses.replace(ask("rfnd_1", 100), notes={"ticket": "T-1"})
        [event] = given(payment, CREATED, SUCCEEDED).when(command).decided()
        assert event.notes == {"ticket": "T-1"}

    def test_a_captured_payment_is_refundable_too(self) -> None:
        given(payment, CREATED, SUCCEEDED, CAPTURED).when(ask("rfnd_1", 100)).then(requested("rfnd_1", 100))

    def test_refunds_may_add_up_to_exactly_the_payment_amount(self) -> None:
        past = (CREATED, SUCCEEDED, requested("rfnd_1", 30000), processed("rfnd_1", 30000))
        given(payment, *past, requested("rfnd_2", 15000)).when(ask("rfnd_3", 5000)).then(requested("rfnd_3", 5000))

    @pytest.mark.parametrize(
        "past",
        [
            (requested("rfnd_1", 40000),),
            (requested("rfnd_1", 40000), processed("rfnd_1", 40000)),
            (requested("rfnd_1", 5000), requested("rfnd_2", 35000)),
        ],
        ids=["pending", "processed", "both"],
    )
    def test_pending_and_processed_refunds_both_reduce_the_available_amount(
        self, past: tuple[refund.Event, ...]
    ) -> None:
        error = given(payment, CREATED, SUCCEEDED, *past).when(ask("rfnd_9", 10001)).raises(RefundExceedsAvailable)
        assert (error.code, error.description) == ("BAD_REQUEST_ERROR", "Refund amount exceeds available amount")

    def test_a_refund_above_the_payment_amount_is_refused(self) -> None:
        given(payment, CREATED, SUCCEEDED).when(ask("rfnd_1", 50001)).raises(RefundExceedsAvailable)

    @pytest.mark.parametrize("amount", [0, -1, -50000])
    def test_a_refund_amount_must_be_positive(self, amount: int) -> None:
        error = given(payment, CREATED, SUCCEEDED).when(ask("rfnd_1", amount)).raises(ValidationFailed)
        assert error.field == "amount"

    @pytest.mark.parametrize("past", [(CREATED,), (CREATED, FAILED)], ids=["pending", "failed"])
    def test_a_payment_that_did_not_succeed_is_not_refundable(self, past: tuple[payment.Event, ...]) -> None:
        error = given(payment, *past).when(ask("rfnd_1", 100)).raises(NotRefundable)
        assert error.code == "BAD_REQUEST_ERROR"

    @pytest.mark.parametrize("past", [(), (CREATED, SUCCEEDED)], ids=["no payment", "another merchant's"])
    def test_a_payment_that_is_not_the_merchants_is_not_found(self, past: tuple[payment.Event, ...]) -> None:
        given(payment, *past).when(ask("rfnd_1", 100, merchant=STRANGER)).raises(PaymentNotFound)

    def test_a_refund_id_is_used_once(self) -> None:
        given(payment, CREATED, SUCCEEDED, requested("rfnd_1", 100)).when(ask("rfnd_1", 100)).raises(InvalidTransition)


class TestProcessRefund:
    def test_a_pending_refund_is_processed_with_its_amount_and_currency(self) -> None:
        given(payment, CREATED, SUCCEEDED, requested("rfnd_1", 700)).when(refund.ProcessRefund("rfnd_1", LATER)).then(
            processed("rfnd_1", 700)
        )

    def test_processing_a_processed_refund_again_is_a_no_op(self) -> None:
        past = (CREATED, SUCCEEDED, requested("rfnd_1", 700), processed("rfnd_1", 700))
        given(payment, *past).when(refund.ProcessRefund("rfnd_1", LATER)).then()

    def test_only_the_named_refund_is_processed(self) -> None:
        past = (CREATED, SUCCEEDED, requested("rfnd_1", 700), requested("rfnd_2", 300), processed("rfnd_1", 700))
        given(payment, *past).when(refund.ProcessRefund("rfnd_2", LATER)).then(processed("rfnd_2", 300))

    @pytest.mark.parametrize("past", [(), (CREATED,), (CREATED, SUCCEEDED)], ids=["no payment", "pending", "no refund"])
    def test_an_unknown_refund_cannot_be_processed(self, past: tuple[payment.Event, ...]) -> None:
        given(payment, *past).when(refund.ProcessRefund("rfnd_1", LATER)).raises(InvalidTransition)


class TestStateAfterMoneyEvents:
    def test_capture_and_refunds_never_change_the_outcome_of_the_payment(self) -> None:
        events = [CREATED, SUCCEEDED, CAPTURED, requested("rfnd_1", 100), processed("rfnd_1", 100)]
        state = functools.reduce(payment.evolve, events, payment.initial_state)
        assert isinstance(state, payment.SucceededPayment)
        assert state.captured
        assert state.refunds == (refund.Refund("rfnd_1", 100, processed=True),)
        assert not payment.is_terminal(state)


@for_all(st.lists(st.one_of(st.none(), st.integers(-10, 60000)), max_size=25), st.lists(st.integers(0, 24)))
def test_however_refunds_are_asked_and_processed_no_more_than_the_payment_is_ever_refunded(
    amounts: list[int | None], to_process: list[int]
) -> None:
    """A random run of requests (some refused) and processings: the decider's own log never over-refunds,
    and processes each accepted refund at most once."""
    log: list[payment.Event] = [CREATED, SUCCEEDED]
    for n, amount in enumerate(amounts):
        state = functools.reduce(payment.evolve, log, payment.initial_state)
        try:
            log += payment.decide(state, ask(f"rfnd_{n}", amount))
        except (ValidationFailed, RefundExceedsAvailable):
            pass
        for i in to_process[n : n + 1]:
            state = functools.reduce(payment.evolve, log, payment.initial_state)
            try:
                log += payment.decide(state, refund.ProcessRefund(f"rfnd_{i}", LATER))
            except InvalidTransition:
                pass
    asked = [e for e in log if isinstance(e, refund.RefundRequested)]
    done = [e.refund_id for e in log if isinstance(e, refund.RefundProcessed)]
    assert sum(e.amount for e in asked) <= 50000
    assert all(e.amount >= 1 for e in asked)
    assert len(done) == len(set(done))
    assert set(done) <= {e.refund_id for e in asked}
