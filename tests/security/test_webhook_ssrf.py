"""Issue 7, item 2: SSRF through webhook URLs, tried against the real gateway as an attacker would.

With WEBHOOK_ALLOW_PRIVATE_NETWORKS=false the API refuses inward URLs in every spelling, and a worker refuses
at delivery whatever got past it: a name that resolves to loopback, or a URL configured while the policy was
open. The local receiver behind those URLs is real and must see nothing, and the log stores no answer. With
private networks allowed (test mode), a closed port, a resetting one, one that speaks something else and one
that hangs all leave the same error text, so the log cannot be used to scan ports.
"""

import contextlib
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from gatekit import free_port, poll
from payflow import isolated_gateway, merchant_client
from webhooklab import receiver

pytestmark = pytest.mark.slow

INWARD = [
    "http://127.0.0.1:3002/webhook",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
    "http://10.0.0.5/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://localhost:5432/",
]


def loopback_name() -> str:
    """A DNS name of this machine that resolves to loopback without being spelled "localhost"."""
    name = socket.gethostname()
    found = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    assert found and all(a.startswith("127.") or a == "::1" for a in found), f"{name} resolves to {found}"
    return name


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any) -> Iterator[Any]:
    """A system refusing private networks, plus a second API that still allows them (as before an operator
    tightened the policy), so a loopback URL reaches the worker's own check."""
    folder = tmp_path_factory.mktemp("ssrf")
    with isolated_gateway(folder, fresh_database(), WEBHOOK_ALLOW_PRIVATE_NETWORKS="false") as gw:
        strict_env, port = gw.env, free_port()
        gw.env = {**strict_env, "PORT": str(port), "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}
        gw.start_named("api-open", "api")
        gw.env = strict_env
        poll(lambda: _health(port), bool, 60, "the second API")
        gw.open_url = f"http://127.0.0.1:{port}"
        yield gw


def _health(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    return False


def first_attempt(api: httpx.Client, webhook_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = poll(
        lambda: api.get(f"/api/v1/webhooks/{webhook_id}").json(), lambda e: e["attempts"] >= 1, 60, "an attempt"
    )
    return entry


def send_test(api: httpx.Client) -> str:
    r = api.post("/api/v1/webhooks/test")
    assert r.status_code == 201, r.text
    webhook_id: str = r.json()["id"]
    return webhook_id


def test_the_api_refuses_inward_urls_in_every_spelling(strict: Any) -> None:
    with merchant_client(strict, "ssrf-config") as api:
        for url in INWARD:
            r = api.put("/api/v1/webhooks/config", json={"url": url})
            assert r.status_code == 400, (url, r.text)
            error = r.json()["error"]
            assert error["code"] == "BAD_REQUEST_ERROR" and "must not point to" in error["description"], url
        assert api.get("/api/v1/webhooks/config").json()["url"] is None
        assert api.put("/api/v1/webhooks/config", json={"url": "https://shop.example.com/hook"}).status_code == 200


def test_credentials_in_a_url_are_refused_even_where_private_networks_are_allowed(strict: Any) -> None:
    with merchant_client(strict, "ssrf-creds") as api:
        open_api = httpx.Client(base_url=strict.open_url, headers=dict(api.headers), timeout=10)
        for client in (api, open_api):
            r = client.put("/api/v1/webhooks/config", json={"url": "https://user:pass@shop.example.com/hook"})
            assert r.status_code == 400, r.text
            assert "credentials" in r.json()["error"]["description"]
        open_api.close()


def test_a_name_resolving_to_loopback_is_refused_at_delivery(strict: Any, tmp_path: Path) -> None:
    with merchant_client(strict, "ssrf-dns") as api:
        secret = api.get("/api/v1/webhooks/config").json()["secret"]
        with receiver(secret, tmp_path) as rcv:
            url = f"http://{loopback_name()}:{rcv.port}/webhook"
            assert api.put("/api/v1/webhooks/config", json={"url": url}).status_code == 200  # not knowable statically
            entry = first_attempt(api, send_test(api))
            assert entry["response_code"] is None and not entry["response_body"]
            assert entry["error"].startswith("refused:") and "loopback" in entry["error"], entry["error"]
            assert rcv.logs() == [], "the internal receiver was reached"


def test_a_delivery_to_127_0_0_1_is_refused_when_private_networks_are_not_allowed(strict: Any, tmp_path: Path) -> None:
    with merchant_client(strict, "ssrf-loopback") as api:
        secret = api.get("/api/v1/webhooks/config").json()["secret"]
        open_api = httpx.Client(base_url=strict.open_url, headers=dict(api.headers), timeout=10)
        with receiver(secret, tmp_path) as rcv, open_api:
            assert open_api.put("/api/v1/webhooks/config", json={"url": rcv.url}).status_code == 200
            entry = first_attempt(api, send_test(api))
            assert entry["response_code"] is None and not entry["response_body"], "an internal answer was stored"
            assert entry["error"] == "refused: url must not point to a loopback address", entry["error"]
            assert rcv.logs() == [], "the internal receiver was reached"


# ---------------------------------------------------------------- error texts do not tell ports apart


@contextlib.contextmanager
def tcp_server(behaviour: str) -> Iterator[int]:
    """A local port that accepts and then hangs, resets, or greets in another protocol."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            if behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                if behaviour == "ssh":
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def test_closed_hanging_resetting_and_foreign_ports_leave_the_same_error(gateway: Any) -> None:
    errors: dict[str, Any] = {}
    with (
        tcp_server("hang") as hanging,
        tcp_server("reset") as resetting,
        tcp_server("ssh") as foreign,
        contextlib.ExitStack() as stack,
    ):
        closed = free_port()
        ports = {"closed": closed, "hanging": hanging, "resetting": resetting, "foreign": foreign}
        sent: dict[str, tuple[httpx.Client, str]] = {}
        for name, port in ports.items():
            api = stack.enter_context(merchant_client(gateway, f"ports-{name}"))
            assert api.put("/api/v1/webhooks/config", json={"url": f"http://127.0.0.1:{port}/x"}).status_code == 200
            sent[name] = (api, send_test(api))
        for name, (api, webhook_id) in sent.items():
            entry = first_attempt(api, webhook_id)
            assert entry["response_code"] is None and not entry["response_body"], (name, entry)
            errors[name] = entry["error"]
    assert len(set(errors.values())) == 1, errors
    assert "could not connect" in errors["closed"]
