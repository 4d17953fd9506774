"""Given/when/then for deciders: ``given(payment, *past).when(command).then(*events)`` or ``.raises(Error)``."""

import functools
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import pytest


@dataclass(frozen=True)
class Scenario:
    decider: ModuleType
    past: tuple[Any, ...]
    command: Any = None

    def when(self, command: Any) -> "Scenario":
        return replace(self, command=command)

    def decided(self) -> list[Any]:
        """What the decider says happened (for assertions on parts of an event)."""
        state = functools.reduce(self.decider.evolve, self.past, self.decider.initial_state)
        events: list[Any] = self.decider.decide(state, self.command)
        return events

    def then(self, *expected: Any) -> None:
        assert self.decided() == list(expected)

    def raises(self, error: type[Exception], match: str | None = None) -> Any:
        with pytest.raises(error, match=match) as info:
            self.decided()
        return info.value


def given(decider: ModuleType, *past: Any) -> Scenario:
    return Scenario(decider, past)
