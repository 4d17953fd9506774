"""The credentials a request carries, read in one pass over its raw headers: the same pair the three
``Headers.get`` calls found (the first of a header sent twice counts), for any headers."""

import base64
import binascii

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from api.auth import credentials


def reference(headers: Headers) -> tuple[str, str] | None:
    """``credentials`` as it was, by ``Headers.get``."""
    key, secret = headers.get("x-api-key"), headers.get("x-api-secret")
    if key and secret:
        return key, secret
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and token:
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if sep and user and password and "\x00" not in user + password:
            return user, password
    return None


LATIN1 = st.text(st.characters(max_codepoint=255), max_size=6)
BASIC = st.builds(
    lambda scheme, user, password: f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode(),
    st.sampled_from(["Basic", "basic", "BASIC", "Bearer"]),
    st.text(max_size=4),
    st.text(max_size=4),
)
VALUES = {b"x-api-key": LATIN1, b"x-api-secret": LATIN1, b"authorization": BASIC | LATIN1, b"host": LATIN1}
HEADER = st.sampled_from(list(VALUES)).flatmap(lambda name: st.tuples(st.just(name), VALUES[name]))


@given(st.lists(HEADER, max_size=6))
def test_the_pair_is_the_one_the_header_lookups_found(raw: list[tuple[bytes, str]]) -> None:
    headers = Headers(raw=[(name, value.encode("latin-1")) for name, value in raw])
    assert credentials(headers) == reference(headers)


def test_the_first_of_a_header_sent_twice_counts() -> None:
    raw = [(b"x-api-key", b"key_1"), (b"x-api-secret", b"s1"), (b"x-api-key", b"key_2")]
    assert credentials(Headers(raw=raw)) == ("key_1", "s1")
