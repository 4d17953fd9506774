"""The servers' quiet main loop (paygate.serving): it answers (without a server header), refreshes the date header,
and a SIGTERM or SIGINT stops it at once however long its tick, in a real process of its own."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from harness import free_port

ROOT = Path(__file__).resolve().parents[2]
#: The server under test, its tick made far longer than any wait here: a prompt stop is the signal's doing.
SERVER = """
import sys
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from paygate import serving

async def hello(request):
    return PlainTextResponse("hello")

serving.TICK_S = float(sys.argv[2])
serving.run(Starlette(routes=[Route("/", hello)]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def started(tick_s: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(tick_s)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).text == "hello":
                return proc, url
        except httpx.HTTPError:
            assert proc.poll() is None, "the server exited"
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server never answered")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_at_once_whatever_its_tick(sig: signal.Signals) -> None:
    proc, _ = started(tick_s=600)
    try:
        proc.send_signal(sig)
        # Long before the tick: the signal ended its wait. uvicorn then raises the signal again, as it always did,
        # so SIGTERM ends the process by the signal and SIGINT (a KeyboardInterrupt) cleanly.
        assert proc.wait(60) in (0, -sig)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_date_header_moves_on_with_each_tick() -> None:
    proc, url = started(tick_s=0.2)
    try:
        first = httpx.get(url).headers["date"]
        deadline = time.monotonic() + 30
        while httpx.get(url).headers["date"] == first:  # the header changes once a second, at a tick
            assert time.monotonic() < deadline, "the date header never changed"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(30)


def test_no_server_header_tells_what_software_answers() -> None:
    proc, url = started(tick_s=600)
    try:
        headers = httpx.get(url).headers
        assert "date" in headers and "server" not in headers
    finally:
        proc.terminate()
        proc.wait(30)
