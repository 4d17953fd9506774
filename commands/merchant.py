"""The merchant aggregate: registration, API key rotation, webhook settings (URL, events, signing secret) and the
origins allowed to embed its checkout.

No secret reaches an event in plain text: events hold the API secret's keyed hash (for look-ups) and the
secrets the gateway must use sealed under the merchant's data key, which lives outside the log (ledger.vault).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, assert_never
from urllib.parse import urlsplit

from commands.errors import InvalidTransition, ValidationFailed
from commands.webhook import DEFAULT_EVENTS, EVENTS

#: Longest webhook URL accepted.
MAX_URL_LENGTH = 2048
#: Longest merchant name, and the form of an email address (one @, a dot in the domain, no spaces; RFC 5321 length).
MAX_NAME_LENGTH = 100
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
MAX_EMAIL_LENGTH = 254
#: Most checkout origins a merchant may list, and the form of one: scheme, host and optional port, nothing else
#: (what a browser puts in ``event.origin`` and what ``frame-ancestors`` matches).
MAX_CHECKOUT_ORIGINS = 20
_ORIGIN = re.compile(r"https?://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?")

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class RegisterMerchant:
    """The plain request to register; ``usecases.register_merchant`` seals it into ``Register``, never stored."""

    merchant_id: str
    name: str
    email: str
    api_key: str
    api_secret: str
    webhook_secret: str
    occurred_at: str
    password_hash: str | None = None


@dataclass(frozen=True)
class Register:
    merchant_id: str
    name: str
    email: str
    api_key: str
    api_secret_hash: str
    api_secret_sealed: str
    webhook_secret_sealed: str
    occurred_at: str
    password_hash: str | None = None


@dataclass(frozen=True)
class ConfigureWebhook:
    """Set the webhook URL (None turns deliveries off) and, when given, the subscribed events."""

    merchant_id: str
    url: str | None
    events: tuple[str, ...] | None
    occurred_at: str


@dataclass(frozen=True)
class RotateWebhookSecret:
    merchant_id: str
    webhook_secret_sealed: str
    occurred_at: str


@dataclass(frozen=True)
class RotateApiKey:
    """Issue a new key pair; the current one keeps working until ``previous_key_expires_at``."""

    merchant_id: str
    api_key: str
    api_secret_hash: str
    api_secret_sealed: str
    previous_key_expires_at: str
    occurred_at: str


@dataclass(frozen=True)
class ConfigureCheckout:
    """Set the origins that may embed this merchant's checkout (empty: any)."""

    merchant_id: str
    allowed_origins: tuple[str, ...]
    occurred_at: str


@dataclass(frozen=True)
class SealLegacySecrets:
    """Record the protected form of secrets that an older log held in plain text (api/migrate.py)."""

    merchant_id: str
    api_secret_hash: str
    api_secret_sealed: str
    webhook_secret_sealed: str
    occurred_at: str


@dataclass(frozen=True)
class SetPassword:
    """Set or change the dashboard password: only its argon2 hash travels, made at the edge."""

    merchant_id: str
    password_hash: str
    occurred_at: str


Command = (
    Register
    | ConfigureWebhook
    | RotateWebhookSecret
    | RotateApiKey
    | SealLegacySecrets
    | ConfigureCheckout
    | SetPassword
)

# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class MerchantRegistered:
    """Version 1 held both secrets in plain text: its upcaster drops them (None), SecretsSealed restores them."""

    TYPE = "merchant.registered.v2"
    merchant_id: str
    name: str
    email: str
    api_key: str
    api_secret_hash: str | None
    api_secret_sealed: str | None
    webhook_secret_sealed: str | None
    registered_at: str
    password_hash: str | None = None


@dataclass(frozen=True)
class WebhookConfigured:
    TYPE = "merchant.webhook_configured.v1"
    merchant_id: str
    url: str | None
    events: tuple[str, ...]
    configured_at: str


@dataclass(frozen=True)
class WebhookSecretRotated:
    """Version 1 held the secret in plain text: its upcaster drops it (None)."""

    TYPE = "merchant.webhook_secret_rotated.v2"
    merchant_id: str
    webhook_secret_sealed: str | None
    rotated_at: str


@dataclass(frozen=True)
class ApiKeyRotated:
    TYPE = "merchant.api_key_rotated.v1"
    merchant_id: str
    api_key: str
    api_secret_hash: str
    api_secret_sealed: str
    previous_api_key: str
    previous_key_expires_at: str
    rotated_at: str


@dataclass(frozen=True)
class SecretsSealed:
    TYPE = "merchant.secrets_sealed.v1"
    merchant_id: str
    api_secret_hash: str
    api_secret_sealed: str
    webhook_secret_sealed: str
    sealed_at: str


@dataclass(frozen=True)
class CheckoutConfigured:
    TYPE = "merchant.checkout_configured.v1"
    merchant_id: str
    allowed_origins: tuple[str, ...]
    configured_at: str


@dataclass(frozen=True)
class PasswordSet:
    """The dashboard password was set or changed; the argon2 hash is a one-way value, never shown by the API."""

    TYPE = "merchant.password_set.v1"
    merchant_id: str
    password_hash: str
    set_at: str


Event = (
    MerchantRegistered
    | WebhookConfigured
    | WebhookSecretRotated
    | ApiKeyRotated
    | SecretsSealed
    | CheckoutConfigured
    | PasswordSet
)


def _without_plain(*names: str, version: str) -> Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]:
    """An upcaster that forgets the plain-text fields ``names`` and marks their protected forms unknown."""
    unknown = {f"{n}_sealed": None for n in names} | ({"api_secret_hash": None} if "api_secret" in names else {})

    def upcast(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return version, {k: v for k, v in data.items() if k not in names} | unknown

    return upcast


#: Old event versions with plain secrets, read as the current ones without them (never rewritten).
UPCASTERS = {
    "merchant.registered.v1": _without_plain("api_secret", "webhook_secret", version=MerchantRegistered.TYPE),
    "merchant.webhook_secret_rotated.v1": _without_plain("webhook_secret", version=WebhookSecretRotated.TYPE),
}

# ---------------------------------------------------------------- states


@dataclass(frozen=True)
class NoMerchant:
    pass


@dataclass(frozen=True)
class ActiveMerchant:
    merchant_id: str
    email: str
    webhook_url: str | None = None
    webhook_events: tuple[str, ...] = DEFAULT_EVENTS
    api_key: str = ""
    webhook_secret_sealed: str | None = None
    checkout_origins: tuple[str, ...] = ()


State = NoMerchant | ActiveMerchant
initial_state: State = NoMerchant()


def stream_id(merchant_id: str) -> str:
    return f"merchant-{merchant_id}"


def _check_registration(c: "RegisterMerchant | Register") -> None:
    if not c.name.strip() or len(c.name) > MAX_NAME_LENGTH or not c.name.isprintable():
        raise ValidationFailed(f"name must be 1 to {MAX_NAME_LENGTH} printable characters", field="name")
    if len(c.email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(c.email):
        raise ValidationFailed("email must be an email address such as shop@example.com", field="email")


def _check_url(url: str | None) -> None:
    if url is None:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise ValidationFailed("url must be a valid http(s) URL", field="url") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(url) > MAX_URL_LENGTH
        or any(ch.isspace() or not ch.isprintable() for ch in url)
    ):
        raise ValidationFailed("url must be a valid http(s) URL", field="url")


def _check_events(events: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ValidationFailed(f"events: unknown event {unknown[0]!r}; one of {', '.join(EVENTS)}", field="events")
    if not events:
        raise ValidationFailed("events must name at least one event", field="events")
    return tuple(e for e in EVENTS if e in events)  # the canonical order, without repeats


def _configured(m: ActiveMerchant, c: ConfigureWebhook) -> list[Event]:
    _check_url(c.url)
    events = m.webhook_events if c.events is None else _check_events(c.events)
    if (c.url, events) == (m.webhook_url, m.webhook_events):
        return []  # nothing changes
    return [WebhookConfigured(m.merchant_id, c.url, events, c.occurred_at)]


def _check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """The origins lower-cased, without repeats, in the order given."""
    if len(origins) > MAX_CHECKOUT_ORIGINS:
        raise ValidationFailed(
            f"allowed_origins may list at most {MAX_CHECKOUT_ORIGINS} origins", field="allowed_origins"
        )
    out: list[str] = []
    for origin in origins:
        o = origin.lower()
        port = o.rpartition(":")[2] if o.count(":") == 2 else None
        if not _ORIGIN.fullmatch(o) or (port is not None and not 0 < int(port) < 65536):
            raise ValidationFailed(
                f"allowed_origins: {origin[:100]!r} is not an origin such as https://shop.example.com",
                field="allowed_origins",
            )
        if o not in out:
            out.append(o)
    return tuple(out)


def decide(state: State, command: Command) -> list[Event]:
    """Raises ValidationFailed for a bad webhook URL or event list, InvalidTransition for an unknown merchant."""
    match command, state:
        case Register(), ActiveMerchant():
            return []  # registering the same merchant again is an idempotent repeat
        case Register() as c, _:  # NoMerchant: the case above took ActiveMerchant
            _check_registration(c)
            registered: list[Event] = [
                MerchantRegistered(
                    merchant_id=c.merchant_id,
                    name=c.name,
                    email=c.email,
                    api_key=c.api_key,
                    api_secret_hash=c.api_secret_hash,
                    api_secret_sealed=c.api_secret_sealed,
                    webhook_secret_sealed=c.webhook_secret_sealed,
                    registered_at=c.occurred_at,
                )
            ]
            if c.password_hash is not None:  # the password is its own fact, as when it changes later
                registered.append(PasswordSet(c.merchant_id, c.password_hash, c.occurred_at))
            return registered
        case ConfigureWebhook() as c, _:
            if not isinstance(state, ActiveMerchant):
                raise InvalidTransition("merchant does not exist")
            return _configured(state, c)
        case RotateWebhookSecret() as c, _:
            if not isinstance(state, ActiveMerchant):
                raise InvalidTransition("merchant does not exist")
            if c.webhook_secret_sealed == state.webhook_secret_sealed:
                return []  # a repeat of the same rotation
            return [WebhookSecretRotated(state.merchant_id, c.webhook_secret_sealed, c.occurred_at)]
        case RotateApiKey() as c, _:
            if not isinstance(state, ActiveMerchant):
                raise InvalidTransition("merchant does not exist")
            return [
                ApiKeyRotated(
                    state.merchant_id,
                    c.api_key,
                    c.api_secret_hash,
                    c.api_secret_sealed,
                    state.api_key,
                    c.previous_key_expires_at,
                    c.occurred_at,
                )
            ]
        case ConfigureCheckout() as c, _:
            if not isinstance(state, ActiveMerchant):
                raise InvalidTransition("merchant does not exist")
            origins = _check_origins(c.allowed_origins)
            if origins == state.checkout_origins:
                return []  # nothing changes
            return [CheckoutConfigured(state.merchant_id, origins, c.occurred_at)]
        case SealLegacySecrets() as c, _:
            if not isinstance(state, ActiveMerchant):
                raise InvalidTransition("merchant does not exist")
            return [
                SecretsSealed(
                    c.merchant_id, c.api_secret_hash, c.api_secret_sealed, c.webhook_secret_sealed, c.occurred_at
                )
            ]
        case SetPassword() as c, _:
            if not isinstance(state, ActiveMerchant):
                raise InvalidTransition("merchant does not exist")
            return [PasswordSet(state.merchant_id, c.password_hash, c.occurred_at)]
        case _:
            assert_never(command)


def evolve(state: State, event: Event) -> State:
    match event:
        case MerchantRegistered():
            return ActiveMerchant(
                merchant_id=event.merchant_id,
                email=event.email,
                api_key=event.api_key,
                webhook_secret_sealed=event.webhook_secret_sealed,
            )
        case WebhookConfigured() as e:
            if isinstance(state, ActiveMerchant):
                return replace(state, webhook_url=e.url, webhook_events=tuple(e.events))
            return state
        case CheckoutConfigured() as e:
            if isinstance(state, ActiveMerchant):
                return replace(state, checkout_origins=tuple(e.allowed_origins))
            return state
        case ApiKeyRotated() as e:
            return replace(state, api_key=e.api_key) if isinstance(state, ActiveMerchant) else state
        case PasswordSet():
            return state
        case WebhookSecretRotated() | SecretsSealed() as e:
            if isinstance(state, ActiveMerchant):
                return replace(state, webhook_secret_sealed=e.webhook_secret_sealed)
            return state
        case _:
            assert_never(event)


def is_terminal(state: State) -> bool:
    return False
