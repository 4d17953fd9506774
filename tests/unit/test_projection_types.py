"""Each projection's ``TYPES`` (the event types a replay hands it) names every event type its rules mention,
and no other: a type missing there would be silently skipped by every replay. And no projection reads an
event's metadata, which a replay leaves out."""

import ast
import inspect
import re
from types import ModuleType

import pytest

import projections

EVENT_TYPE = re.compile(r"[a-z_]+\.[a-z_]+\.v[0-9]+")


def mentioned(model: ModuleType) -> set[str]:
    tree = ast.parse(inspect.getsource(model))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return {s for s in strings if EVENT_TYPE.fullmatch(s)}


@pytest.mark.parametrize("model", sorted(set(projections.TABLES.values()), key=lambda m: m.NAME), ids=lambda m: m.NAME)
def test_types_are_the_event_types_the_rules_mention(model: ModuleType) -> None:
    assert model.TYPES == mentioned(model) != set()


@pytest.mark.parametrize("model", sorted(set(projections.TABLES.values()), key=lambda m: m.NAME), ids=lambda m: m.NAME)
def test_no_projection_reads_metadata(model: ModuleType) -> None:
    tree = ast.parse(inspect.getsource(model))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "metadata"]


@pytest.mark.parametrize("model", projections.INLINE, ids=lambda m: m.NAME)
def test_no_inline_projection_reads_what_the_database_makes_up(model: ModuleType) -> None:
    # Their effects are worked out before the append when they ride in it (commands.Session.save_alone).
    tree = ast.parse(inspect.getsource(model))
    made_up = {"position", "tx_id", "recorded_at"}
    assert not [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in made_up]
