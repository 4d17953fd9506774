"""Events are read into ``Recorded`` by position, so the columns every reader selects must keep its field order."""

import dataclasses
import re

import pytest

from ledger import Recorded, recorded_rows
from ledger.store import _COLUMNS, make_recorded


def names(columns: str) -> list[str]:
    """The name each selected column comes out under (its alias, else its own name)."""
    return [re.split(r"\s+AS\s+", c.strip())[-1].split(".")[-1] for c in columns.split(",")]


def test_the_event_columns_are_in_the_order_of_recorded_fields() -> None:
    assert names(_COLUMNS) == [f.name for f in dataclasses.fields(Recorded)]


def test_the_history_reader_selects_the_same_columns_in_the_same_order() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for module in ("projections/history.py",):
        text = (root / module).read_text()
        selects = re.findall(r"SELECT\s+((?:e\.)?position,[^;]*?)\s+FROM events", text)
        assert selects, module
        for select in selects:
            assert names(select) == names(_COLUMNS), (module, select)


def test_a_row_becomes_the_event_field_by_field() -> None:
    row = (7, 9, "id", "payment-pay_1", 2, "payment.created.v1", {"a": 1}, {"m": 2}, "at")
    made = recorded_rows(None)(row)
    assert made == Recorded(*row) and (made.position, made.tx_id, made.stream_version) == (7, 9, 2)


def test_an_event_made_from_a_row_is_the_dataclass_and_stays_frozen() -> None:
    row = (7, 9, "id", "payment-pay_1", 2, "payment.created.v1", {"a": 1}, {"m": 2}, "at")
    made = make_recorded(row)
    assert type(made) is Recorded and made == Recorded(*row)
    assert [getattr(made, f.name) for f in dataclasses.fields(Recorded)] == list(row)  # every field, its own value
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.position = 8  # type: ignore[misc]
