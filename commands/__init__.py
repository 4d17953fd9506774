"""Aggregates as deciders (pure ``decide``/``evolve``), the generic handler and the use cases."""

from commands import merchant, order, payment
from commands.catalog import CODEC
from commands.handler import NotOneStatement, Projector, Saving, Session, Snapshots, handle

__all__ = [
    "CODEC",
    "NotOneStatement",
    "Projector",
    "Saving",
    "Session",
    "Snapshots",
    "handle",
    "merchant",
    "order",
    "payment",
]
