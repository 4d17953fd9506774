"""Oversized and malformed requests against the real API: each gets a 4xx in the error shape, never a 500, and
none of them holds the server for other clients."""

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gatekit import AUTH

pytestmark = pytest.mark.slow
MB = 1024 * 1024


def error_of(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"} and {"code", "description"} <= set(body["error"]), body
    return body["error"]


def raw(gateway: Any) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.port), timeout=10)


def read_response(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_the_largest_order_amount_json_keeps_exact_is_over_the_cap(api: httpx.Client) -> None:
    r = api.post("/api/v1/orders", json={"amount": 9007199254740991})
    assert r.status_code == 400
    assert error_of(r) == {
        "code": "BAD_REQUEST_ERROR",
        "description": "amount must be at most 10000000000",
        "field": "amount",
    }
    assert api.post("/api/v1/orders", json={"amount": 10_000_000_000}).status_code == 201


def test_a_request_head_over_16_kb_gets_431_with_the_error_body(gateway: Any) -> None:
    with raw(gateway) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
        answer = read_response(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"Request headers must be at most 16384 bytes" in body
    # A head just under the cap is served.
    r = httpx.get(f"{gateway.url}/health", headers={"X-Fill": "a" * 15_000}, timeout=10)
    assert r.status_code == 200


def test_a_40_mb_header_is_cut_off_and_others_are_served_meanwhile(gateway: Any) -> None:
    sent = 0
    refused = threading.Event()

    def attack() -> None:
        nonlocal sent
        with raw(gateway) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            chunk = b"a" * MB
            try:
                for _ in range(40):
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:  # the server answered 431 and closed: the rest is never read
                refused.set()

    attacker = threading.Thread(target=attack)
    attacker.start()
    answered = []
    # At least one request: the attack may be cut off before the first of them is sent.
    while not answered or (attacker.is_alive() and len(answered) < 20):
        answered.append(httpx.get(f"{gateway.url}/health", timeout=10).status_code)
    attacker.join(60)
    assert refused.is_set() and sent < 40 * MB
    assert answered and set(answered) == {200}


def test_a_body_over_the_limit_gets_413_before_it_is_sent(gateway: Any) -> None:
    """Content-Length says 2 MB; the answer comes before a byte of the body is sent."""
    with raw(gateway) as s:
        s.sendall(
            b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Api-Key: key_test_abc123\r\nX-Api-Secret: secret_test_xyz789\r\n"
            b"Content-Length: %d\r\n\r\n" % (2 * MB)
        )
        answer = read_response(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b'"description":"Request body must be at most 1048576 bytes"' in body


def test_a_streamed_body_over_the_limit_gets_413(gateway: Any) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"amount": 50000, "notes": {"x": "'
        for _ in range(3):
            yield b"a" * MB
        yield b'"}}'

    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as client:
        try:
            r = client.post("/api/v1/orders", content=chunks(), headers={"Content-Type": "application/json"})
        except httpx.WriteError:  # the server answered and closed while the client was still sending
            pytest.fail("the 413 answer was lost")
    assert r.status_code == 413
    assert error_of(r)["description"] == "Request body must be at most 1048576 bytes"


@pytest.mark.parametrize("depth", [33, 253, 100_000])
def test_deeply_nested_json_gets_400(api: httpx.Client, depth: int) -> None:
    body = '{"amount": 50000, "notes": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    r = api.post("/api/v1/orders", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert error_of(r)["description"] == "Request body must not nest deeper than 32 levels"
    assert api.get("/api/v1/orders").status_code == 200


def test_brackets_inside_strings_do_not_count_as_nesting(api: httpx.Client) -> None:
    r = api.post("/api/v1/orders", json={"amount": 50000, "receipt": "[" * 35})
    assert r.status_code in (201, 400)
    if r.status_code == 400:  # a receipt limit may refuse it, never the nesting limit
        assert "nest" not in error_of(r)["description"]


@pytest.mark.parametrize(
    "query", ["offset=9223372036854775808", "offset=-1", "limit=9223372036854775808", "limit=0", "offset=1e3"]
)
def test_webhook_log_paging_is_bounded(api: httpx.Client, query: str) -> None:
    r = api.get(f"/api/v1/webhooks?{query}")
    assert r.status_code == 400
    assert error_of(r)["code"] == "BAD_REQUEST_ERROR"


def test_401_carries_a_basic_challenge(gateway: Any) -> None:
    for headers in ({}, {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "wrong"}, {"Authorization": "Basic !!"}):
        r = httpx.get(f"{gateway.url}/api/v1/orders", headers=headers, timeout=10)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Basic realm="paygate"'
        assert error_of(r)["code"] == "AUTHENTICATION_ERROR"


def test_options_and_405_list_every_method_of_the_path(gateway: Any) -> None:
    r = httpx.options(f"{gateway.url}/api/v1/orders", timeout=10)
    assert r.status_code == 204
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    r = httpx.delete(f"{gateway.url}/api/v1/orders", headers=AUTH, timeout=10)
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert error_of(r)["code"] == "BAD_REQUEST_ERROR"
    r = httpx.options(f"{gateway.url}/api/v1/webhooks/config", timeout=10)
    assert set(r.headers["allow"].split(", ")) == {"GET", "PUT", "OPTIONS"}
    assert httpx.options(f"{gateway.url}/no/such/path", timeout=10).status_code == 404


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", b"400"),
        (b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", b"400"),
        (b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", b"400"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"400"),
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            b"403",
        ),
    ],
)
def test_the_malformed_requests_uvicorn_answers_itself_are_as_documented(
    gateway: Any, request_bytes: bytes, status: bytes
) -> None:
    """The README lists these: they never reach the application, so they are not in the error shape."""
    with raw(gateway) as s:
        s.sendall(request_bytes)
        answer = read_response(s)
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    if status == b"400":
        assert answer.endswith(b"Invalid HTTP request received.")
    assert httpx.get(f"{gateway.url}/health", timeout=10).status_code == 200


def test_an_answer_before_a_close_arrives_whole(gateway: Any) -> None:
    """A connection the server closes right after answering (the client asked it to) still gets every byte of
    the answer first."""
    with raw(gateway) as s:
        s.sendall(b"GET /api/v1/payments/pay_none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_response(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 ")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    assert len(body) == length and body.startswith(b'{"error"')
