"""Event ids are UUIDv7 (RFC 9562): the time they were made, to the millisecond, then random bits."""

import time
import uuid

from ledger.store import NewEvent, uuid7


def test_an_event_id_is_a_version_7_uuid_stamped_with_the_time_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    made = NewEvent("test.v1", {}).event_id
    after = time.time_ns() // 1_000_000
    assert (made.version, made.variant) == (7, uuid.RFC_4122)
    assert before <= made.int >> 80 <= after


def test_ids_made_in_a_later_millisecond_sort_after_earlier_ones() -> None:
    first = uuid7()
    start = first.int >> 80
    while time.time_ns() // 1_000_000 == start:  # until the clock's millisecond moves on
        pass
    assert uuid7() > first


def test_ids_made_in_one_millisecond_still_differ() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(u.version == 7 for u in ids)
