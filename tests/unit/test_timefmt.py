"""The public bodies' timestamps (projections.timefmt.iso): what strftime spells of the time in UTC; and the times
inside events (timefmt.micro): what isoformat spells of it to the microsecond."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from projections.timefmt import iso, micro

zones = st.sampled_from([UTC, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata"), timezone(timedelta(hours=-11))])


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones))
def test_iso_is_strftime_of_the_time_in_utc(at: datetime) -> None:
    assert iso(at) == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_none_stays_none() -> None:
    assert iso(None) is None


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones))
def test_micro_is_isoformat_of_the_time_in_utc_to_the_microsecond(at: datetime) -> None:
    expected = at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert micro(at) == expected
    assert micro(at.replace(microsecond=0)) == expected[:-8] + ".000000Z"  # six digits, always
