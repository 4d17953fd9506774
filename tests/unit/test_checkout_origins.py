"""The merchant's allowed checkout origins: validated, normalised, and recorded only when they change."""

import pytest
from scenario import given
from test_merchant_decider import AT, REGISTERED

from commands import merchant
from commands.errors import InvalidTransition, ValidationFailed

MID = REGISTERED.merchant_id


def configure(*origins: str) -> merchant.ConfigureCheckout:
    return merchant.ConfigureCheckout(MID, origins, AT)


def test_origins_are_lower_cased_and_repeats_dropped_in_order() -> None:
    given(merchant, REGISTERED).when(
        configure("https://Shop.Example.com", "http://localhost:3005", "https://shop.example.com")
    ).then(merchant.CheckoutConfigured(MID, ("https://shop.example.com", "http://localhost:3005"), AT))


def test_setting_the_same_origins_again_records_nothing() -> None:
    done = merchant.CheckoutConfigured(MID, ("https://shop.example.com",), AT)
    given(merchant, REGISTERED, done).when(configure("https://shop.example.com")).then()


def test_an_empty_list_lifts_the_restriction() -> None:
    done = merchant.CheckoutConfigured(MID, ("https://shop.example.com",), AT)
    given(merchant, REGISTERED, done).when(configure()).then(merchant.CheckoutConfigured(MID, (), AT))


@pytest.mark.parametrize(
    "bad",
    [
        "shop.example.com",
        "https://shop.example.com/",
        "https://shop.example.com/pay",
        "ftp://shop.example.com",
        "https://user@shop.example.com",
        "https://shop.example.com:99999",
        "https://shop.example.com:0",
        "*",
        "https://*.example.com",
        "https://shop.example.com; script-src *",
        "null",
    ],
)
def test_anything_but_a_plain_origin_is_refused(bad: str) -> None:
    given(merchant, REGISTERED).when(configure(bad)).raises(ValidationFailed)


def test_at_most_twenty_origins() -> None:
    many = tuple(f"https://shop{i}.example.com" for i in range(21))
    given(merchant, REGISTERED).when(configure(*many)).raises(ValidationFailed)


def test_an_unknown_merchant_cannot_configure_its_checkout() -> None:
    given(merchant).when(configure("https://shop.example.com")).raises(InvalidTransition)
