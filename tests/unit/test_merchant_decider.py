"""The merchant aggregate: registered once; registering again changes nothing."""

import pytest
from scenario import given

from commands import merchant
from commands.errors import InvalidTransition, ValidationFailed

AT = "2030-06-15T10:00:00.000000Z"
REGISTER = merchant.Register(
    merchant_id="550e8400-e29b-41d4-a716-446655440000",
    name="Test Merchant",
    email="test@example.com",
    api_key="key_test_abc123",
    api_secret_hash="hash-of-secret",
    api_secret_sealed="sealed-api-secret",
    webhook_secret_sealed="sealed-webhook-secret",
    occurred_at=AT,
)
REGISTERED = merchant.MerchantRegistered(
    merchant_id="550e8400-e29b-41d4-a716-446655440000",
    name="Test Merchant",
    email="test@example.com",
    api_key="key_test_abc123",
    api_secret_hash="hash-of-secret",
    api_secret_sealed="sealed-api-secret",
    webhook_secret_sealed="sealed-webhook-secret",
    registered_at=AT,
)


def test_a_new_merchant_is_registered_with_its_credentials() -> None:
    given(merchant).when(REGISTER).then(REGISTERED)


def test_registering_a_registered_merchant_again_is_a_no_op() -> None:
    given(merchant, REGISTERED).when(REGISTER).then()


def test_a_registered_merchant_is_active() -> None:
    state = merchant.evolve(merchant.initial_state, REGISTERED)
    assert isinstance(state, merchant.ActiveMerchant)
    assert (state.merchant_id, state.email) == (REGISTER.merchant_id, REGISTER.email)
    assert not merchant.is_terminal(state)


def test_merchant_streams_are_named_by_id() -> None:
    assert merchant.stream_id("m1") == "merchant-m1"


# ---------------------------------------------------------------- webhook settings


def configure(url: str | None, events: tuple[str, ...] | None = None) -> merchant.ConfigureWebhook:
    return merchant.ConfigureWebhook(REGISTER.merchant_id, url, events, AT)


def test_configuring_a_url_subscribes_to_every_event_by_default() -> None:
    given(merchant, REGISTERED).when(configure("https://shop.example.com/hook")).then(
        merchant.WebhookConfigured(REGISTER.merchant_id, "https://shop.example.com/hook", webhook_events(), AT)
    )


def test_events_are_kept_in_the_canonical_order_without_repeats() -> None:
    [event] = (
        given(merchant, REGISTERED)
        .when(configure("http://localhost:3002/webhook", ("refund.processed", "payment.success", "payment.success")))
        .decided()
    )
    assert isinstance(event, merchant.WebhookConfigured)
    assert event.events == ("payment.success", "refund.processed")


def test_leaving_events_out_keeps_the_subscription_and_a_null_url_turns_deliveries_off() -> None:
    only = merchant.WebhookConfigured(REGISTER.merchant_id, "http://a.example/h", ("payment.failed",), AT)
    given(merchant, REGISTERED, only).when(configure(None)).then(
        merchant.WebhookConfigured(REGISTER.merchant_id, None, ("payment.failed",), AT)
    )
    given(merchant, REGISTERED, only).when(configure("http://a.example/h")).then()


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/h", "example.com/h", "http://", "http:///path", "http://exa mple.com", "http://e.com:70000/",
     "https://e.com/\n", "javascript:alert(1)", "http://e.com/" + "a" * 2048],
)  # fmt: skip
def test_a_webhook_url_must_be_a_valid_http_or_https_url(url: str) -> None:
    given(merchant, REGISTERED).when(configure(url)).raises(ValidationFailed, "url")


@pytest.mark.parametrize("events", [(), ("payment.refunded",), ("payment.success", "PAYMENT.FAILED")])
def test_events_must_be_known_and_at_least_one(events: tuple[str, ...]) -> None:
    given(merchant, REGISTERED).when(configure("https://e.com/h", events)).raises(ValidationFailed, "events")


def test_rotating_the_secret_records_the_new_one_once() -> None:
    rotate = merchant.RotateWebhookSecret(REGISTER.merchant_id, "sealed-new-secret", AT)
    rotated = merchant.WebhookSecretRotated(REGISTER.merchant_id, "sealed-new-secret", AT)
    given(merchant, REGISTERED).when(rotate).then(rotated)
    given(merchant, REGISTERED, rotated).when(rotate).then()


def test_webhook_settings_of_an_unknown_merchant_are_refused() -> None:
    given(merchant).when(configure("https://e.com/h")).raises(InvalidTransition)
    given(merchant).when(merchant.RotateWebhookSecret("m", "whsec_x", AT)).raises(InvalidTransition)


def webhook_events() -> tuple[str, ...]:
    from commands.webhook import DEFAULT_EVENTS

    return DEFAULT_EVENTS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 101),
        ("email", "notanemail"),
        ("email", "a@b"),
        ("email", "a b@c.d"),
    ],
)
def test_a_merchant_needs_a_name_and_an_email_address(field: str, value: str) -> None:
    import dataclasses

    error = given(merchant).when(dataclasses.replace(REGISTER, **{field: value})).raises(ValidationFailed)
    assert error.field == field


def test_payment_captured_and_order_paid_may_be_subscribed_to() -> None:
    command = merchant.ConfigureWebhook(REGISTER.merchant_id, "https://e.com/h", ("order.paid", "payment.captured"), AT)
    [event] = given(merchant, REGISTERED).when(command).decided()
    assert event.events == ("payment.captured", "order.paid")


# ---------------------------------------------------------------- API keys and old, plain-text events


def test_rotating_the_api_key_names_the_previous_key_and_when_it_expires() -> None:
    rotate = merchant.RotateApiKey(REGISTER.merchant_id, "key_new", "hash-new", "sealed-new", "2030-06-16T10:00Z", AT)
    rotated = merchant.ApiKeyRotated(
        REGISTER.merchant_id, "key_new", "hash-new", "sealed-new", "key_test_abc123", "2030-06-16T10:00Z", AT
    )
    given(merchant, REGISTERED).when(rotate).then(rotated)
    again = merchant.RotateApiKey(REGISTER.merchant_id, "key_3", "h3", "s3", "2030-06-16T11:00Z", AT)
    [event] = given(merchant, REGISTERED, rotated).when(again).decided()
    assert isinstance(event, merchant.ApiKeyRotated) and event.previous_api_key == "key_new"


def test_old_events_with_plain_secrets_are_read_without_them() -> None:
    from commands.catalog import CODEC

    old = {
        "merchant_id": REGISTER.merchant_id,
        "name": "Test Merchant",
        "email": "test@example.com",
        "api_key": "key_test_abc123",
        "api_secret": "secret_test_xyz789",
        "webhook_secret": "whsec_test_abc123",
        "registered_at": AT,
        "password_hash": None,
    }
    event = CODEC.decode("merchant.registered.v1", old)
    assert isinstance(event, merchant.MerchantRegistered)
    assert (event.api_secret_hash, event.api_secret_sealed, event.webhook_secret_sealed) == (None, None, None)
    assert "secret_test_xyz789" not in repr(event) and "whsec_test_abc123" not in repr(event)
    rotated = CODEC.decode(
        "merchant.webhook_secret_rotated.v1",
        {"merchant_id": REGISTER.merchant_id, "webhook_secret": "whsec_old", "rotated_at": AT},
    )
    assert rotated == merchant.WebhookSecretRotated(REGISTER.merchant_id, None, AT)
