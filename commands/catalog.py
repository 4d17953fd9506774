"""The codec of every event type of every aggregate: the one list of what may be stored."""

from types import ModuleType
from typing import get_args

from commands import merchant, order, payment, webhook
from ledger import Codec


def _events(aggregate: ModuleType) -> tuple[type, ...]:
    """The classes of an aggregate's ``Event`` union (or its one class)."""
    return get_args(aggregate.Event) or (aggregate.Event,)


CODEC = Codec(
    [cls for aggregate in (merchant, order, payment, webhook) for cls in _events(aggregate)],
    upcasters=merchant.UPCASTERS,
)
