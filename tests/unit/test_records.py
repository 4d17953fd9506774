"""``commands.records.quick``: the same instances as the dataclass's own ``__init__`` makes, still frozen, for the
classes it takes; a clear refusal of the ones it would not reproduce."""

import dataclasses
import inspect
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import commands.handler
import commands.order
import commands.payment
import commands.webhook
import workers.webhooks
from commands.records import quick

values = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3))


def shape() -> type[Any]:
    """A fresh class of every kind of field ``quick`` takes."""

    @dataclass(frozen=True)
    class Shape:
        a: Any
        b: Any = 7
        c: list[Any] = field(default_factory=list)
        d: Any = field(default=None, repr=False, compare=False)

    return Shape


Plain, Quick = shape(), quick(shape())


@given(values, values, values, values)
def test_quick_makes_what_the_dataclass_makes(a: Any, b: Any, c: Any, d: Any) -> None:
    for args, kwargs in (((a,), {}), ((a, b), {}), ((a,), {"c": c}), ((), {"a": a, "b": b, "c": c, "d": d})):
        plain, fast = Plain(*args, **kwargs), Quick(*args, **kwargs)
        assert vars(plain) == vars(fast)
        assert repr(plain).replace("Plain", "") == repr(fast).replace("Quick", "")


def test_the_signature_and_the_behaviour_of_a_frozen_dataclass_stay() -> None:
    plain, fast = inspect.signature(Plain).parameters, inspect.signature(Quick).parameters
    assert list(plain) == list(fast) == ["a", "b", "c", "d"]
    assert [fast[n].default for n in ("b", "d")] == [7, None] and fast["a"].default is inspect.Parameter.empty
    made = Quick(1)
    with pytest.raises(FrozenInstanceError):
        made.a = 2  # type: ignore[misc]
    assert made == Quick(1, d="ignored by ==") and hash(Quick(1, c=())) == hash(Plain(1, c=()))
    assert dataclasses.replace(made, b=8) == Quick(1, 8)
    assert Quick(1).c is not Quick(1).c  # each instance its own default list
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick(1, 2, 3, 4, 5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick(1, e=5)  # type: ignore[call-arg]


def test_a_class_without_fields() -> None:
    @quick
    @dataclass(frozen=True)
    class Empty:
        pass

    assert Empty() == Empty() and vars(Empty()) == {}


@dataclass
class Mutable:
    a: int


@dataclass(frozen=True, slots=True)
class Slotted:
    a: int


@dataclass(frozen=True)
class Posted:
    a: int

    def __post_init__(self) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class KeywordOnly:
    a: int


@dataclass(frozen=True)
class WithInitVar:
    a: int
    b: InitVar[int]


@dataclass(frozen=True)
class NotInInit:
    a: int
    b: int = field(init=False, default=0)


class NotADataclass:
    pass


@pytest.mark.parametrize("cls", [Mutable, Slotted, Posted, KeywordOnly, WithInitVar, NotInInit, NotADataclass])
def test_what_it_would_not_reproduce_is_refused(cls: type[Any]) -> None:
    with pytest.raises(TypeError, match="quick"):
        quick(cls)


QUICKENED = [
    cls
    for module in (commands.webhook, commands.payment, commands.order, commands.handler, workers.webhooks)
    for cls in vars(module).values()
    if isinstance(cls, type) and cls.__module__ == module.__name__ and dataclasses.is_dataclass(cls)
    and cls.__init__.__code__.co_filename == "<string>" and "update" in cls.__init__.__code__.co_names
]  # fmt: skip


def test_the_hot_classes_are_quick_and_keep_their_fields_as_parameters() -> None:
    assert {"Pending", "Delivery", "RecordAttempt", "Saving", "Outcome"} <= {c.__name__ for c in QUICKENED}
    for cls in QUICKENED:
        fields = dataclasses.fields(cls)
        parameters = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in parameters] == [f.name for f in fields], cls
        for p, f in zip(parameters, fields, strict=True):
            assert (p.default is inspect.Parameter.empty) == (f.default is f.default_factory is dataclasses.MISSING)
            if f.default is not dataclasses.MISSING:
                assert p.default is f.default, (cls, f.name)
