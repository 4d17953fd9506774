"""The order aggregate: creation rules, and one payment pays it once."""

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st
from scenario import given

from commands import order
from commands.errors import DomainError, ValidationFailed

AT = "2030-06-15T10:00:00.000000Z"
MERCHANT = "550e8400-e29b-41d4-a716-446655440000"


def create(amount: object = 50000, currency: str = "INR", **extra: object) -> order.CreateOrder:
    return order.CreateOrder("order_A", MERCHANT, amount, currency, AT, **extra)  # type: ignore[arg-type]


CREATED = order.OrderCreated("order_A", MERCHANT, 50000, "INR", None, {}, AT)


class TestCreateOrder:
    def test_a_valid_order_is_created(self) -> None:
        given(order).when(create()).then(CREATED)

    def test_receipt_and_notes_are_kept(self) -> None:
        (event,) = given(order).when(create(receipt="rcpt_1", notes={"k": "v"})).decided()
        assert (event.receipt, event.notes) == ("rcpt_1", {"k": "v"})

    def test_the_smallest_amount_is_100(self) -> None:
        (event,) = given(order).when(create(amount=100)).decided()
        assert event.amount == 100

    @pytest.mark.parametrize("amount", [99, 1, 0, -1, -100, -50000])
    def test_an_amount_below_100_is_refused(self, amount: int) -> None:
        error = given(order).when(create(amount=amount)).raises(ValidationFailed)
        assert (error.code, error.description, error.field) == (
            "BAD_REQUEST_ERROR",
            "amount must be at least 100",
            "amount",
        )

    @pytest.mark.parametrize("amount", [100.0, 500.5, "50000", True, None])
    def test_an_amount_that_is_not_an_integer_is_refused(self, amount: object) -> None:
        given(order).when(create(amount=amount)).raises(ValidationFailed)

    @for_all(st.integers(max_value=99))
    def test_no_amount_under_100_is_ever_accepted(self, amount: int) -> None:
        given(order).when(create(amount=amount)).raises(ValidationFailed, "amount must be at least 100")

    @for_all(st.integers(min_value=100, max_value=order.DEFAULT_MAX_ORDER_AMOUNT))
    def test_every_amount_from_100_up_to_the_cap_is_accepted(self, amount: int) -> None:
        (event,) = given(order).when(create(amount=amount)).decided()
        assert event.amount == amount

    @for_all(st.integers(min_value=order.DEFAULT_MAX_ORDER_AMOUNT + 1))
    def test_no_amount_over_the_default_cap_is_accepted(self, amount: int) -> None:
        given(order).when(create(amount=amount)).raises(ValidationFailed, "amount must be at most 10000000000")

    def test_the_cap_is_the_configured_one_but_never_past_what_json_keeps_exact(self) -> None:
        (event,) = given(order).when(create(amount=2**53 - 1, max_amount=2**53 - 1)).decided()
        assert event.amount == 2**53 - 1
        given(order).when(create(amount=501, max_amount=500)).raises(ValidationFailed, "amount must be at most 500")
        given(order).when(create(amount=2**53, max_amount=2**63)).raises(
            ValidationFailed, f"amount must be at most {2**53 - 1}"
        )

    @pytest.mark.parametrize("currency", ["INR", "USD", "EUR"])
    def test_a_three_letter_currency_is_accepted(self, currency: str) -> None:
        (event,) = given(order).when(create(currency=currency)).decided()
        assert event.currency == currency

    @pytest.mark.parametrize("currency", ["", "IN", "INRS", "inr", "I1R", "₹₹₹", "RUPEE"])
    def test_a_currency_that_is_not_three_capital_letters_is_refused(self, currency: str) -> None:
        error = given(order).when(create(currency=currency)).raises(ValidationFailed)
        assert error.field == "currency"

    def test_an_existing_order_cannot_be_created_again(self) -> None:
        given(order, CREATED).when(create()).raises(ValidationFailed)


class TestMarkOrderPaid:
    def test_a_created_order_is_paid_by_a_payment(self) -> None:
        given(order, CREATED).when(order.MarkOrderPaid("pay_1", AT)).then(order.OrderPaid("order_A", "pay_1", AT))

    def test_paying_a_paid_order_again_is_a_no_op(self) -> None:
        paid = order.OrderPaid("order_A", "pay_1", AT)
        given(order, CREATED, paid).when(order.MarkOrderPaid("pay_2", AT)).then()

    def test_an_order_that_does_not_exist_cannot_be_paid(self) -> None:
        given(order).when(order.MarkOrderPaid("pay_1", AT)).raises(DomainError)

    def test_a_paid_order_remembers_which_payment_paid_it(self) -> None:
        state = order.evolve(order.evolve(order.initial_state, CREATED), order.OrderPaid("order_A", "pay_1", AT))
        assert isinstance(state, order.Order)
        assert (state.paid, state.paid_by, order.is_terminal(state)) == (True, "pay_1", True)

    def test_a_created_order_is_not_terminal(self) -> None:
        assert not order.is_terminal(order.evolve(order.initial_state, CREATED))
