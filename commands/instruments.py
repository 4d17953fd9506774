"""Rules for payment instruments (UPI addresses and cards): pure functions, no I/O."""

import re
from dataclasses import dataclass, field

from commands.errors import ExpiredCard, InvalidCard, InvalidVpa, ValidationFailed

_VPA = re.compile(r"^[a-zA-Z0-9._-]+@[a-zA-Z0-9]+$")
_SEPARATORS = re.compile(r"[ \t-]")
#: ASCII digits only: ``str.isdigit`` also takes "²" and "١", which ``int`` then refuses or reads as a digit.
_DIGITS = re.compile(r"[0-9]+")


def ascii_digits(text: str) -> bool:
    return _DIGITS.fullmatch(text) is not None


@dataclass(frozen=True)
class CardDetails:
    """A card as the payer typed it. Number and CVV never leave the decide step: repr hides them."""

    number: str = field(repr=False)
    expiry_month: str
    expiry_year: str
    cvv: str = field(repr=False)
    holder_name: str


@dataclass(frozen=True)
class CardSummary:
    """All that is kept of a card."""

    network: str
    last4: str


def check_vpa(vpa: str | None) -> str:
    """The VPA if it is well formed.

    Raises:
        ValidationFailed: no VPA given.
        InvalidVpa: the VPA is not ``name@handle``.
    """
    if vpa is None or vpa == "":
        raise ValidationFailed("vpa is required for upi payments", field="vpa")
    if not _VPA.fullmatch(vpa):
        raise InvalidVpa("Invalid VPA format", field="vpa")
    return vpa


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network(digits: str) -> str:
    """The network by the number's prefix (SPEC.md), or ``unknown``."""
    if digits.startswith("4"):
        return "visa"
    two = int(digits[:2]) if len(digits) >= 2 else -1
    if 51 <= two <= 55:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if two in (60, 65) or 81 <= two <= 89:
        return "rupay"
    return "unknown"


def _expiry(month: str, year: str) -> tuple[int, int]:
    """A month that does not exist is an invalid card, not an expired one."""
    if not (ascii_digits(month) and ascii_digits(year)) or len(year) not in (2, 4):
        raise InvalidCard("Card expiry is not a valid month", field="card.expiry")
    m, y = int(month), int(year)
    if not 1 <= m <= 12:
        raise InvalidCard("Card expiry month must be 01 to 12", field="card.expiry_month")
    return (2000 + y if len(year) == 2 else y), m


def check_card(card: CardDetails | None, *, year: int, month: int) -> CardSummary:
    """Validate a card against the current (year, month) and keep only its network and last four digits.

    Raises:
        ValidationFailed: no card, or a required field is empty.
        InvalidCard: the number is not 13–19 ASCII digits or fails the Luhn check; the CVV or expiry is malformed.
        ExpiredCard: the expiry is before the current month.
    """
    if card is None:
        raise ValidationFailed("card is required for card payments", field="card")
    for name in ("number", "expiry_month", "expiry_year", "cvv", "holder_name"):
        if not str(getattr(card, name)).strip():
            raise ValidationFailed(f"card.{name} is required", field=f"card.{name}")
    digits = _SEPARATORS.sub("", card.number)
    if not ascii_digits(digits) or not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        raise InvalidCard("Invalid card number", field="card.number")
    if not (ascii_digits(card.cvv) and len(card.cvv) in (3, 4)):
        raise InvalidCard("Invalid card CVV", field="card.cvv")
    if _expiry(card.expiry_month.strip(), card.expiry_year.strip()) < (year, month):
        raise ExpiredCard("Card has expired", field="card.expiry")
    return CardSummary(network=card_network(digits), last4=digits[-4:])
