"""The payment aggregate: every validation rule of SPEC.md, and each payment decided exactly once."""

import dataclasses

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st
from scenario import given

from commands import payment
from commands.errors import (
    DomainError,
    ExpiredCard,
    InvalidCard,
    InvalidTransition,
    InvalidVpa,
    OrderAlreadyPaid,
    ValidationFailed,
)
from commands.instruments import CardDetails

AT = "2030-06-15T10:00:00.000000Z"
MERCHANT = "550e8400-e29b-41d4-a716-446655440000"
ORDER = payment.OrderSnapshot("order_A", 50000, "INR", paid=False)
#: The "current" month of every command below.
YEAR, MONTH = 2030, 6


def luhn_complete(partial: str) -> str:
    """``partial`` followed by the check digit that makes it pass the Luhn test (written independently)."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return partial + str((10 - total % 10) % 10)


def card(
    number: str = "4111111111111111",
    month: str = "12",
    year: str = "2099",
    cvv: str = "123",
    holder: str = "A Payer",
) -> CardDetails:
    return CardDetails(number=number, expiry_month=month, expiry_year=year, cvv=cvv, holder_name=holder)


def create(method: str = "upi", *, order: payment.OrderSnapshot = ORDER, **extra: object) -> payment.CreatePayment:
    if method == "upi" and "vpa" not in extra:
        extra["vpa"] = "payer@okbank"
    return payment.CreatePayment(
        "pay_A",
        MERCHANT,
        order,
        method,
        AT,
        YEAR,
        MONTH,
        **extra,  # type: ignore[arg-type]
    )


def card_payment(**fields: str) -> payment.CreatePayment:
    return create("card", card=card(**fields))


def created(
    method: str = "upi", vpa: str | None = "payer@okbank", network: str | None = None, last4: str | None = None
) -> payment.PaymentCreated:
    return payment.PaymentCreated("pay_A", "order_A", MERCHANT, 50000, "INR", method, vpa, network, last4, AT)


SUCCEEDED = payment.PaymentSucceeded("pay_A", "order_A", MERCHANT, 50000, "INR", AT)
FAILED = payment.PaymentFailed("pay_A", "order_A", MERCHANT, "PAYMENT_FAILED", "declined", AT)


class TestUpi:
    def test_a_upi_payment_takes_amount_and_currency_from_its_order(self) -> None:
        given(payment).when(create()).then(created())

    @pytest.mark.parametrize(
        "vpa", ["user@bank", "first.last@okaxis", "a_b-c@upi", "USER123@HDFC", "9876543210@ybl", "x@y"]
    )
    def test_a_well_formed_vpa_is_accepted(self, vpa: str) -> None:
        (event,) = given(payment).when(create(vpa=vpa)).decided()
        assert event.vpa == vpa

    @pytest.mark.parametrize(
        "vpa",
        [
            "userbank",
            "user@",
            "@bank",
            "user@ban.k",
            "user@bank-x",
            "user@bank_x",
            "us er@bank",
            "user@bank@x",
            "user@bank\n",
            "user+tag@bank",
            "usér@bank",
        ],
    )
    def test_a_malformed_vpa_is_refused_as_invalid_vpa(self, vpa: str) -> None:
        error = given(payment).when(create(vpa=vpa)).raises(InvalidVpa)
        assert error.code == "INVALID_VPA"

    @pytest.mark.parametrize("vpa", [None, ""])
    def test_a_upi_payment_without_a_vpa_is_a_bad_request(self, vpa: str | None) -> None:
        error = given(payment).when(create(vpa=vpa)).raises(ValidationFailed)
        assert (error.code, error.field) == ("BAD_REQUEST_ERROR", "vpa")


class TestCardNumber:
    def test_a_valid_card_keeps_only_its_network_and_last_four_digits(self) -> None:
        given(payment).when(card_payment()).then(created("card", None, "visa", "1111"))

    @pytest.mark.parametrize("number", ["4111 1111 1111 1111", "4111-1111-1111-1111", " 4111 1111-1111 1111 "])
    def test_spaces_and_dashes_are_stripped(self, number: str) -> None:
        (event,) = given(payment).when(card_payment(number=number)).decided()
        assert (event.card_network, event.card_last4) == ("visa", "1111")

    @pytest.mark.parametrize("length", [13, 16, 19])
    def test_a_luhn_valid_number_of_13_to_19_digits_is_accepted(self, length: int) -> None:
        number = luhn_complete("4" + "0" * (length - 3) + "7")
        (event,) = given(payment).when(card_payment(number=number)).decided()
        assert event.card_last4 == number[-4:]

    @pytest.mark.parametrize("length", [12, 20])
    def test_a_luhn_valid_number_of_the_wrong_length_is_invalid(self, length: int) -> None:
        number = luhn_complete("4" + "0" * (length - 3) + "7")
        error = given(payment).when(card_payment(number=number)).raises(InvalidCard)
        assert error.code == "INVALID_CARD"

    @pytest.mark.parametrize(
        "number",
        ["4111111111111112", "4111111111111121", "5555555555554445", "4111a11111111111", "4111.1111.1111.1111"],
    )
    def test_a_number_failing_luhn_or_holding_other_characters_is_invalid(self, number: str) -> None:
        given(payment).when(card_payment(number=number)).raises(InvalidCard)

    @for_all(st.text(alphabet="0123456789", min_size=12, max_size=18), st.integers(1, 9))
    def test_changing_the_check_digit_of_a_valid_number_makes_it_invalid(self, body: str, bump: int) -> None:
        number = luhn_complete(body)
        broken = number[:-1] + str((int(number[-1]) + bump) % 10)
        given(payment).when(card_payment(number=number)).decided()
        given(payment).when(card_payment(number=broken)).raises(InvalidCard)

    @pytest.mark.parametrize(
        ("number", "network"),
        [
            ("4111111111111111", "visa"),
            ("4222222222222", "visa"),
            ("5105105105105100", "mastercard"),
            ("5555555555554444", "mastercard"),
            (luhn_complete("520000000000000"), "mastercard"),
            ("378282246310005", "amex"),
            ("340000000000009", "amex"),
            ("6011111111111117", "rupay"),
            (luhn_complete("650000000000000"), "rupay"),
            (luhn_complete("810000000000000"), "rupay"),
            (luhn_complete("890000000000000"), "rupay"),
            ("3530111333300000", "unknown"),
            (luhn_complete("500000000000000"), "unknown"),
            (luhn_complete("560000000000000"), "unknown"),
            (luhn_complete("620000000000000"), "unknown"),
            (luhn_complete("800000000000000"), "unknown"),
            (luhn_complete("900000000000000"), "unknown"),
        ],
    )
    def test_the_network_follows_the_number_prefix(self, number: str, network: str) -> None:
        (event,) = given(payment).when(card_payment(number=number)).decided()
        assert event.card_network == network

    def test_no_event_field_holds_the_card_number_or_cvv(self) -> None:
        (event,) = given(payment).when(card_payment(number="4111 1111 1111 1111", cvv="9876")).decided()
        values = " ".join(str(v) for v in dataclasses.asdict(event).values())
        assert "4111111111111111" not in values and "4111 1111" not in values and "9876" not in values
        assert "cvv" not in dataclasses.asdict(event) and "number" not in dataclasses.asdict(event)

    def test_the_card_details_repr_hides_number_and_cvv(self) -> None:
        text = repr(card(number="4111111111111111", cvv="9876"))
        assert "4111111111111111" not in text and "9876" not in text


class TestCardExpiry:
    @pytest.mark.parametrize(("month", "year"), [("1", "2099"), ("12", "2099"), ("01", "99"), ("12", "31")])
    def test_months_1_to_12_with_2_or_4_digit_years_are_accepted(self, month: str, year: str) -> None:
        given(payment).when(card_payment(month=month, year=year)).decided()

    @pytest.mark.parametrize(("month", "year"), [("06", "2030"), ("6", "30")])
    def test_a_card_expiring_this_month_is_still_valid(self, month: str, year: str) -> None:
        given(payment).when(card_payment(month=month, year=year)).decided()

    @pytest.mark.parametrize(("month", "year"), [("05", "2030"), ("5", "30"), ("12", "2029"), ("12", "29")])
    def test_a_card_that_expired_last_month_or_earlier_is_refused(self, month: str, year: str) -> None:
        error = given(payment).when(card_payment(month=month, year=year)).raises(ExpiredCard)
        assert error.code == "EXPIRED_CARD"

    def test_december_of_last_year_is_expired_in_january(self) -> None:
        command = dataclasses.replace(card_payment(month="12", year="2029"), year=2030, month=1)
        given(payment).when(command).raises(ExpiredCard)

    @pytest.mark.parametrize("month", ["0", "00", "13", "99", "-1", "ab"])
    def test_a_month_outside_1_to_12_is_an_invalid_card_not_an_expired_one(self, month: str) -> None:
        error = given(payment).when(card_payment(month=month)).raises(InvalidCard)
        assert error.code == "INVALID_CARD"

    @pytest.mark.parametrize("year", ["1", "203", "20301", "2O30"])
    def test_a_year_that_is_not_2_or_4_digits_is_an_invalid_card(self, year: str) -> None:
        given(payment).when(card_payment(year=year)).raises(InvalidCard)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("year", "203²"),
            ("year", "٢٠٣٠"),
            ("month", "١٢"),
            ("month", "1²"),
            ("number", "411111111111111²"),
            ("number", "٤١١١١١١١١١١١١١١١"),
            ("number", "４１１１１１１１１１１１１１１１"),
            ("cvv", "١٢٣"),
            ("cvv", "12³"),
        ],
    )
    def test_only_ascii_digits_count_as_digits(self, field: str, value: str) -> None:
        error = given(payment).when(card_payment(**{field: value})).raises(InvalidCard)
        assert error.code == "INVALID_CARD"


class TestCardFields:
    def test_a_card_payment_without_a_card_is_a_bad_request(self) -> None:
        error = given(payment).when(create("card")).raises(ValidationFailed)
        assert (error.code, error.field) == ("BAD_REQUEST_ERROR", "card")

    @pytest.mark.parametrize(
        ("field", "attr"),
        [
            ("number", "number"),
            ("month", "expiry_month"),
            ("year", "expiry_year"),
            ("cvv", "cvv"),
            ("holder", "holder_name"),
        ],
    )
    def test_an_empty_card_field_is_a_bad_request(self, field: str, attr: str) -> None:
        error = given(payment).when(card_payment(**{field: "  "})).raises(ValidationFailed)
        assert (error.code, error.field) == ("BAD_REQUEST_ERROR", f"card.{attr}")

    @pytest.mark.parametrize("cvv", ["12", "12345", "12a"])
    def test_a_cvv_that_is_not_3_or_4_digits_is_refused(self, cvv: str) -> None:
        given(payment).when(card_payment(cvv=cvv)).raises(InvalidCard)


class TestCreatePayment:
    @pytest.mark.parametrize("method", ["netbanking", "wallet", "", "UPI", "Card"])
    def test_an_unknown_method_is_a_bad_request(self, method: str) -> None:
        error = given(payment).when(create(method, vpa="payer@okbank")).raises(ValidationFailed)
        assert (error.code, error.field) == ("BAD_REQUEST_ERROR", "method")

    def test_a_paid_order_refuses_a_new_payment(self) -> None:
        paid = dataclasses.replace(ORDER, paid=True)
        given(payment).when(create(order=paid)).raises(OrderAlreadyPaid)
        given(payment).when(create("card", order=paid, card=card())).raises(OrderAlreadyPaid)

    def test_a_payment_cannot_be_created_twice(self) -> None:
        given(payment, created()).when(create()).raises(InvalidTransition)


class TestDecidePayment:
    def test_a_pending_payment_succeeds(self) -> None:
        given(payment, created()).when(payment.DecidePayment(AT)).then(SUCCEEDED)

    def test_a_pending_payment_fails_with_payment_failed(self) -> None:
        given(payment, created()).when(payment.DecidePayment(AT, "declined")).then(FAILED)

    @pytest.mark.parametrize("outcome", [None, "declined"])
    def test_deciding_a_succeeded_payment_again_is_a_no_op(self, outcome: str | None) -> None:
        given(payment, created(), SUCCEEDED).when(payment.DecidePayment(AT, outcome)).then()

    @pytest.mark.parametrize("outcome", [None, "declined"])
    def test_deciding_a_failed_payment_again_is_a_no_op(self, outcome: str | None) -> None:
        given(payment, created(), FAILED).when(payment.DecidePayment(AT, outcome)).then()

    def test_a_payment_that_does_not_exist_cannot_be_decided(self) -> None:
        given(payment).when(payment.DecidePayment(AT)).raises(DomainError)

    def test_only_a_failed_payment_is_terminal(self) -> None:
        pending = payment.evolve(payment.initial_state, created())
        assert not payment.is_terminal(pending)
        assert not payment.is_terminal(payment.evolve(pending, SUCCEEDED))
        assert payment.is_terminal(payment.evolve(pending, FAILED))


class TestFieldsOfTheChosenMethodOnly:
    def test_a_upi_payment_carrying_a_card_is_refused_naming_the_field(self) -> None:
        error = given(payment).when(create("upi", card=card())).raises(ValidationFailed)
        assert (error.field, error.description) == ("card", "card is not accepted for upi payments")

    def test_a_card_payment_carrying_a_vpa_is_refused_naming_the_field(self) -> None:
        error = given(payment).when(create("card", card=card(), vpa="payer@okbank")).raises(ValidationFailed)
        assert (error.field, error.description) == ("vpa", "vpa is not accepted for card payments")
