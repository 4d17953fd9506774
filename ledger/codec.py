"""Stored event names and their classes: an explicit registry, with upcasters from old versions.

Rows store each class's stable ``TYPE`` string (``"payment.created.v1"``), never a Python qualname, so
modules can move freely; an old version is upcast when read and never rewritten.
"""

import copy
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol

from ledger.errors import UnknownEventType


class DomainEvent(Protocol):
    """What the codec needs of an event class: a frozen dataclass with a stable ``TYPE``."""

    TYPE: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Any]]


Upcaster = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]


class Codec:
    """Maps event classes to (type, data) and back."""

    def __init__(self, classes: Iterable[type[DomainEvent]], upcasters: dict[str, Upcaster] | None = None):
        self._classes = {cls.TYPE: cls for cls in classes}
        self._upcasters = dict(upcasters or {})
        self._tuples = {type_: _tuple_fields(cls) for type_, cls in self._classes.items()}
        self._names = {cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in self._classes.values()}

    def encode(self, event: DomainEvent) -> tuple[str, dict[str, Any]]:
        """The event's type and fields as a new dict, as ``dataclasses.asdict`` gives them (a copy all the way
        down), without its deep copy of every plain value (a fifth of a payment's encoding), and with each
        class's field names looked up once (``dataclasses.fields`` filters them anew at every call)."""
        names = self._names.get(type(event)) or tuple(f.name for f in dataclasses.fields(event))
        return event.TYPE, {n: v if type(v := getattr(event, n)) in _PLAIN else _copied(v) for n in names}

    def decode(self, type_: str, data: dict[str, Any]) -> Any:
        while type_ in self._upcasters:
            type_, data = self._upcasters[type_](data)
        try:
            cls = self._classes[type_]
        except KeyError:
            raise UnknownEventType(type_) from None
        # JSON has no tuples: a tuple field comes back as a list, and the event would no longer equal itself.
        tuples = {name: tuple(data[name]) for name in self._tuples[type_] if isinstance(data.get(name), list)}
        return cls(**(data | tuples if tuples else data))

    def knows(self, type_: str) -> bool:
        return type_ in self._classes or type_ in self._upcasters


_IMMUTABLE = (str, int, float, bool, type(None))
#: The exact types of ``_IMMUTABLE``, for a set lookup before any ``isinstance``.
_PLAIN = frozenset(_IMMUTABLE)


def _copied(value: Any) -> Any:
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copied(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return copy.deepcopy(value)


def _is_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_tuple(arg) for arg in typing.get_args(hint))
    return hint is tuple or typing.get_origin(hint) is tuple


def _tuple_fields(cls: type[DomainEvent]) -> frozenset[str]:
    """Names of the fields declared as tuples (optional ones included)."""
    hints = typing.get_type_hints(cls)
    return frozenset(name for name in cls.__dataclass_fields__ if _is_tuple(hints.get(name)))
