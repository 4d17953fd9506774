"""The public bodies' timestamps (projections.timefmt.iso): what strftime spells of the time in UTC."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from projections.timefmt import iso

zones = st.sampled_from([UTC, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata"), timezone(timedelta(hours=-11))])


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones))
def test_iso_is_strftime_of_the_time_in_utc(at: datetime) -> None:
    assert iso(at) == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_none_stays_none() -> None:
    assert iso(None) is None
