"""Stored event names: every event of every aggregate is registered, versioned and survives a JSON round trip."""

import dataclasses
import importlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands import CODEC
from ledger import Codec, UnknownEventType

COMMANDS = Path(__file__).resolve().parents[2] / "commands"
NOT_AGGREGATES = {"__init__", "handler", "usecases", "catalog", "errors", "instruments"}
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)


def event_classes() -> list[type[Any]]:
    """The classes of every aggregate module's ``Event`` union."""
    found: list[type[Any]] = []
    for path in sorted(COMMANDS.glob("*.py")):
        if path.stem in NOT_AGGREGATES:
            continue
        module = importlib.import_module(f"commands.{path.stem}")
        union = getattr(module, "Event", None)
        if union is not None:
            found.extend(typing.get_args(union) or [union])
    return list(dict.fromkeys(found))  # an aggregate may hold another's events (a payment's refunds)


def strategy(hint: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return st.one_of([strategy(a) for a in typing.get_args(hint)])
    if origin is dict:
        return st.dictionaries(st.text(max_size=5), JSON_SCALARS, max_size=3)
    if origin in (list, tuple):
        return st.lists(strategy(typing.get_args(hint)[0]), max_size=3).map(origin)
    simple = {str: st.text(max_size=12), int: st.integers(-(2**53), 2**53), bool: st.booleans(), type(None): st.none()}
    return simple[hint]


def instances(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: strategy(hints[f.name])
        for f in dataclasses.fields(cls)
        if typing.get_origin(hints[f.name]) is not ClassVar
    }
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


EVENTS = event_classes()


def test_every_aggregate_contributes_events() -> None:
    types_ = {cls.TYPE for cls in EVENTS}
    assert {"merchant.registered.v2", "order.created.v1", "order.paid.v1", "payment.created.v1"} <= types_


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.TYPE)
def test_every_event_type_is_registered_in_the_catalog(cls: type[Any]) -> None:
    assert CODEC.knows(cls.TYPE)


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.TYPE)
def test_every_event_type_is_a_stable_versioned_name(cls: type[Any]) -> None:
    assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+\.v[0-9]+", cls.TYPE)


def test_no_two_event_classes_share_a_type() -> None:
    assert len({cls.TYPE for cls in EVENTS}) == len(EVENTS)


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.TYPE)
@settings(max_examples=25)
@given(data=st.data())
def test_every_event_survives_encoding_to_json_and_back(cls: type[Any], data: st.DataObject) -> None:
    event = data.draw(instances(cls))
    type_, body = CODEC.encode(event)
    assert type_ == cls.TYPE
    assert CODEC.decode(type_, json.loads(json.dumps(body))) == event


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.TYPE)
@settings(max_examples=25)
@given(data=st.data())
def test_encoding_gives_what_asdict_gives_and_shares_nothing_with_the_event(
    cls: type[Any], data: st.DataObject
) -> None:
    event = data.draw(instances(cls))
    _, body = CODEC.encode(event)
    assert body == dataclasses.asdict(event)
    for name, value in body.items():
        if isinstance(value, dict | list):
            assert value is not getattr(event, name), f"{name} is the event's own object"


@dataclasses.dataclass(frozen=True)
class Tagged:
    TYPE = "thing.tagged.v1"
    tags: tuple[str, ...]
    maybe: tuple[int, ...] | None = None


def test_tuple_fields_come_back_as_tuples() -> None:
    codec = Codec([Tagged])
    event = Tagged(("a", "b"), (1,))
    assert codec.decode(*json.loads(json.dumps(codec.encode(event)))) == event
    assert codec.decode("thing.tagged.v1", {"tags": ["a"]}) == Tagged(("a",))


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        CODEC.decode("no.such.event.v1", {})


@dataclasses.dataclass(frozen=True)
class Renamed:
    TYPE = "thing.renamed.v2"
    thing_id: str
    name: str


def test_an_old_version_is_upcast_when_read() -> None:
    codec = Codec(
        [Renamed], {"thing.renamed.v1": lambda d: ("thing.renamed.v2", {"thing_id": d["id"], "name": d["title"]})}
    )
    assert codec.knows("thing.renamed.v1") and codec.knows("thing.renamed.v2")
    assert codec.decode("thing.renamed.v1", {"id": "t1", "title": "new"}) == Renamed("t1", "new")
    assert codec.encode(Renamed("t1", "new")) == ("thing.renamed.v2", {"thing_id": "t1", "name": "new"})
