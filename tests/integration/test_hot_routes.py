"""The hot routes (api.hotpath) answer exactly as FastAPI's own routes do, and do answer the plain requests.

Two in-process apps on one database and Redis, one with the hot routes and one without, are sent the same
requests, good and bad; their answers must match in status, headers that matter and body (ids and times of
the objects each one created aside).
"""

import re
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import httpx
import orjson
import pytest

from api import hotpath
from api.main import create_app
from paygate.database import make_pool
from paygate.settings import Settings

AUTH = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
#: Values that differ between two creations of the same object.
_IDS = re.compile(rb'"((?:pay|order)_[A-Za-z0-9]{16})"')
_VARIABLE = ("created_at", "updated_at")
#: Headers that are part of an answer (the request id is each request's own).
HEADERS = ("content-type", "www-authenticate", "retry-after", "allow")

CARD = {"number": "4111111111111111", "expiry_month": "12", "expiry_year": "2099", "cvv": "123", "holder_name": "A B"}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def settings(store: str, private_redis: Callable[[], str]) -> Settings:
    """A Redis database of this module's own: its failed sign-ins count against no other test's limits (and the
    allowance is wide enough for the refused credentials sent here)."""
    return Settings(  # type: ignore[call-arg]
        database_url=store, redis_url=private_redis(), test_mode=True, auth_failures_per_minute=10_000, _env_file=None
    )


@pytest.fixture
async def clients(settings: Settings, served: list[str]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    assert settings.database_url is not None
    out: dict[str, httpx.AsyncClient] = {}
    pools = partial(make_pool, settings, settings.database_url, lean=True)
    apps = {hot: create_app(settings, settings.redis_url, pools, hot_routes=hot) for hot in (True, False)}
    async with apps[True].router.lifespan_context(apps[True]), apps[False].router.lifespan_context(apps[False]):
        for hot, app in apps.items():
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
            out["hot" if hot else "fastapi"] = httpx.AsyncClient(transport=transport, base_url="http://paygate")
        try:
            yield out
        finally:
            for c in out.values():
                await c.aclose()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the hot handlers that answered, or raised the error that is the answer (not handed on)."""
    seen: list[str] = []

    def counting(handler: hotpath.Handler) -> hotpath.Handler:
        async def counted(request: Any, body: bytes) -> Any:
            response = None
            try:
                response = await handler(request, body)
            except Exception:
                seen.append(handler.__name__)
                raise
            if response is not None:
                seen.append(handler.__name__)
            return response

        return counted

    for endpoint, handler in list(hotpath.HANDLERS.items()):
        monkeypatch.setitem(hotpath.HANDLERS, endpoint, counting(handler))
    return seen


def normal(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    names: dict[bytes, bytes] = {}
    body = _IDS.sub(lambda m: b'"' + names.setdefault(m.group(1), b"id%d" % len(names)) + b'"', response.content)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = body
    if isinstance(parsed, dict):
        parsed = {k: ("..." if k in _VARIABLE else v) for k, v in parsed.items()}
    return response.status_code, {h: response.headers[h] for h in HEADERS if h in response.headers}, parsed


async def both(clients: dict[str, httpx.AsyncClient], method: str, path: str, **kw: Any) -> Any:
    """The same request to both apps; their answers, normalised."""
    answers = [normal(await client.request(method, path, **kw)) for client in clients.values()]
    assert answers[0] == answers[1], f"{method} {path} {kw}"
    return answers[0]


async def new_order(client: httpx.AsyncClient) -> str:
    created = await client.post("/api/v1/orders", json={"amount": 50_000, "currency": "INR"}, headers=AUTH)
    assert created.status_code == 201, created.text
    order_id: str = created.json()["id"]
    return order_id


def body(value: Any) -> dict[str, Any]:
    return {"content": orjson.dumps(value), "headers": {**JSON, **AUTH}}


PAYMENTS: list[tuple[str, dict[str, Any]]] = [
    ("upi", body({"order_id": "{order}", "method": "upi", "vpa": "user@okbank"})),
    ("card", body({"order_id": "{order}", "method": "card", "card": CARD})),
    ("bad vpa", body({"order_id": "{order}", "method": "upi", "vpa": "no-at-sign"})),
    ("unknown method", body({"order_id": "{order}", "method": "cash"})),
    ("missing order", body({"method": "upi", "vpa": "user@okbank"})),
    ("extra field", body({"order_id": "{order}", "method": "upi", "vpa": "a@b", "amount": 5})),
    ("wrong type", body({"order_id": 12, "method": "upi"})),
    ("card as numbers", body({"order_id": "{order}", "method": "card", "card": {**CARD, "number": 4111111111111111}})),
    ("unknown order", body({"order_id": "order_0000000000000000", "method": "upi", "vpa": "a@okbank"})),
    ("a list", body([1, 2])),
    ("repeated key", {"content": b'{"order_id":"x","order_id":"y","method":"upi"}', "headers": {**JSON, **AUTH}}),
    ("text/plain", {"content": b'{"order_id":"x","method":"upi"}', "headers": {"content-type": "text/plain", **AUTH}}),
    ("no body", {"headers": {**JSON, **AUTH}}),
    ("malformed", {"content": b'{"order_id": ', "headers": {**JSON, **AUTH}}),
    (
        "wrong secret",
        {"content": b'{"order_id":"x","method":"upi"}', "headers": {**JSON, **AUTH, "X-Api-Secret": "no"}},
    ),
    ("no credentials", {"content": b'{"order_id":"x","method":"upi"}', "headers": JSON}),
    ("bad body and no credentials", {"content": b'{"order_id": 1}', "headers": JSON}),
]


#: Bodies FastAPI refuses itself: the hot route hands these on (the others it answers, refusals included).
HANDED_ON = ("missing order", "extra field", "wrong type", "card as numbers", "a list", "no body", "malformed",
             "bad body and no credentials")  # fmt: skip


@pytest.mark.parametrize("case", PAYMENTS, ids=[name for name, _ in PAYMENTS])
async def test_create_payment_answers_as_fastapi_does(
    clients: dict[str, httpx.AsyncClient], served: list[str], case: tuple[str, dict[str, Any]]
) -> None:
    name, kw = case
    content = kw.get("content", b"")
    answers = []
    for client in clients.values():
        sent = content.replace(b"{order}", (await new_order(client)).encode())
        answers.append(normal(await client.post("/api/v1/payments", content=sent, headers=kw["headers"])))
    assert answers[0] == answers[1], name
    status = answers[0][0]
    assert status < 500, answers[0]
    # A request the hot route serves is one of the plain ones; a refused one it may hand on.
    if status == 201:
        assert "create_payment" in served, name
    if name in HANDED_ON:
        assert "create_payment" not in served, name


async def test_orders_and_reads_answer_as_fastapi_does(
    clients: dict[str, httpx.AsyncClient], served: list[str]
) -> None:
    for amount in (50_000, 0, -5, 10**15, "500", None):
        for headers in (AUTH, {}):
            sent = {"content": orjson.dumps({"amount": amount}), "headers": {**JSON, **headers}}
            await both(clients, "POST", "/api/v1/orders", **sent)
    await both(clients, "POST", "/api/v1/orders", **body({"amount": 100, "receipt": "r" * 41}))
    await both(clients, "POST", "/api/v1/orders", **body({"amount": 100, "partial_payment": True}))
    await both(clients, "POST", "/api/v1/orders", **body({"amount": 100, "notes": {"a": "b"}}))
    # The four integer amounts with and without credentials (refusals of the command or of the key included),
    # and the notes; "500", None, the long receipt and partial_payment fail the schema and are handed on.
    assert served.count("create_order") == 4 * 2 + 1

    pays: dict[str, str] = {}
    for name, client in clients.items():
        made = await client.post(
            "/api/v1/payments",
            json={"order_id": await new_order(client), "method": "upi", "vpa": "a@okbank"},
            headers=AUTH,
        )
        pays[name] = made.json()["id"]
    served.clear()
    for suffix in ("", "?as_of=2020-01-01T00:00:00Z", "?as_of=yesterday", "?count=5"):
        for headers in (AUTH, {}, {**AUTH, "X-Api-Secret": "wrong"}):
            answers = [
                normal(await c.get(f"/api/v1/payments/{pays[n]}{suffix}", headers=headers)) for n, c in clients.items()
            ]
            assert answers[0] == answers[1], (suffix, headers)
    await both(clients, "GET", "/api/v1/payments/pay_0000000000000000", headers=AUTH)
    # The plain read with good, no and wrong credentials, and the unknown payment (404); a query is handed on.
    assert served.count("get_payment") == 3 + 1


async def test_an_idempotency_key_is_honoured_by_the_hot_route(
    clients: dict[str, httpx.AsyncClient], served: list[str]
) -> None:
    client = clients["hot"]
    order = await new_order(client)
    key = {"Idempotency-Key": f"hot-{order}", **AUTH}
    first = await client.post(
        "/api/v1/payments", json={"order_id": order, "method": "upi", "vpa": "a@okbank"}, headers=key
    )
    again = await client.post(
        "/api/v1/payments", json={"order_id": order, "method": "upi", "vpa": "a@okbank"}, headers=key
    )
    other = await client.post(
        "/api/v1/payments", json={"order_id": order, "method": "upi", "vpa": "b@okbank"}, headers=key
    )
    assert first.status_code == 201 and again.content == first.content
    assert other.status_code == 400 and other.json()["error"]["code"] == "BAD_REQUEST_ERROR", other.text
    assert served.count("create_payment") == 3


async def test_the_lane_leaves_to_the_middlewares_what_they_answer(
    clients: dict[str, httpx.AsyncClient], served: list[str]
) -> None:
    deep = b'{"amount":100,"notes":{"a":' + b"[" * 40 + b"]" * 40 + b"}}"
    too_big = b'{"amount":100,"receipt":"' + b"r" * (1024 * 1024) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"amount":'
        yield b"100}"

    for method, path, kw in (
        ("GET", "/api/v1/payments/pay_%00x", {"headers": AUTH}),
        ("POST", "/api/v1/orders", {"content": deep, "headers": {**JSON, **AUTH}}),
        # Too deep is the first thing wrong with it (the content type is the second).
        ("POST", "/api/v1/orders", {"content": deep, "headers": {"content-type": "text/plain", **AUTH}}),
        ("POST", "/api/v1/orders", {"content": too_big, "headers": {**JSON, **AUTH}}),
    ):
        status, _, answer = await both(clients, method, path, **kw)
        assert status in (400, 413), (path, answer)
    for client in clients.values():  # a body without a length (chunked) is read by BodyLimit, then answered
        made = await client.post("/api/v1/orders", content=chunks(), headers={**JSON, **AUTH})
        assert made.status_code == 201, made.text
    assert served == []


async def test_the_lane_echoes_the_request_id(clients: dict[str, httpx.AsyncClient], served: list[str]) -> None:
    for client in clients.values():
        given = await client.post("/api/v1/orders", json={"amount": 100}, headers={**AUTH, "X-Request-Id": "abc-1"})
        made = await client.post("/api/v1/orders", json={"amount": 100}, headers=AUTH)
        assert given.headers["x-request-id"] == "abc-1"
        assert re.fullmatch(r"[0-9a-f]{16}", made.headers["x-request-id"])
    assert served.count("create_order") == 2


async def test_a_body_with_a_length_and_chunks_is_left_to_the_body_limit(
    clients: dict[str, httpx.AsyncClient], served: list[str]
) -> None:
    """A server may pass on a request that gives a Content-Length and is sent in chunks all the same: the lane
    trusts no length then, and BodyLimit counts what actually comes."""
    app = clients["hot"]._transport.app  # type: ignore[attr-defined]
    headers = [(b"content-length", b"12"), (b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")]
    headers += [(k.lower().encode(), v.encode()) for k, v in AUTH.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/v1/orders", "raw_path": b"/api/v1/orders", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 5000), "server": ("paygate", 80)}  # fmt: skip
    chunk = b"x" * (256 * 1024)
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for _ in range(5)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert served == []
