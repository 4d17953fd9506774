"""The checked-in ISO 4217 table stays the whole list, and orders take exactly its codes."""

import pycountry
import pytest
from scenario import given

from commands import order
from commands.currencies import CODES
from commands.errors import ValidationFailed


def test_the_table_is_the_iso_4217_list() -> None:
    assert {c.alpha_3 for c in pycountry.currencies} == CODES


def create(currency: str) -> order.CreateOrder:
    return order.CreateOrder("order_1", "m", 50000, currency, "2026-01-01T00:00:00Z")


@pytest.mark.parametrize("currency", ["INR", "USD", "EUR", "JPY", "XTS"])
def test_an_iso_4217_currency_is_accepted(currency: str) -> None:
    assert given(order).when(create(currency)).decided()[0].currency == currency


@pytest.mark.parametrize("currency", ["XYZ", "ABC", "inr", "RUPEE", "IN", "ＩＮＲ"])
def test_a_code_not_in_iso_4217_is_refused(currency: str) -> None:
    error = given(order).when(create(currency)).raises(ValidationFailed)
    assert error.field == "currency" and "ISO 4217" in error.description
