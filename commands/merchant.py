"""The merchant aggregate: registration (webhook settings join it later)."""

from dataclasses import dataclass
from typing import assert_never

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class RegisterMerchant:
    merchant_id: str
    name: str
    email: str
    api_key: str
    api_secret: str
    webhook_secret: str
    occurred_at: str
    password_hash: str | None = None


Command = RegisterMerchant

# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class MerchantRegistered:
    TYPE = "merchant.registered.v1"
    merchant_id: str
    name: str
    email: str
    api_key: str
    api_secret: str
    webhook_secret: str
    registered_at: str
    password_hash: str | None = None


Event = MerchantRegistered

# ---------------------------------------------------------------- states


@dataclass(frozen=True)
class NoMerchant:
    pass


@dataclass(frozen=True)
class ActiveMerchant:
    merchant_id: str
    email: str


State = NoMerchant | ActiveMerchant
initial_state: State = NoMerchant()


def stream_id(merchant_id: str) -> str:
    return f"merchant-{merchant_id}"


def decide(state: State, command: Command) -> list[Event]:
    match command, state:
        case RegisterMerchant(), ActiveMerchant():
            return []  # registering the same merchant again is an idempotent repeat
        case RegisterMerchant() as c, NoMerchant():
            return [
                MerchantRegistered(
                    merchant_id=c.merchant_id,
                    name=c.name,
                    email=c.email,
                    api_key=c.api_key,
                    api_secret=c.api_secret,
                    webhook_secret=c.webhook_secret,
                    registered_at=c.occurred_at,
                    password_hash=c.password_hash,
                )
            ]
        case _:
            assert_never(command)


def evolve(state: State, event: Event) -> State:
    match event:
        case MerchantRegistered():
            return ActiveMerchant(merchant_id=event.merchant_id, email=event.email)
        case _:
            assert_never(event)


def is_terminal(state: State) -> bool:
    return False
