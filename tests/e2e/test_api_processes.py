"""The API served from several processes (``API_WORKERS``, paygate.serving): they share one socket, one that is
killed is replaced, they end with their parent (so a restarted API can bind its port again), SIGTERM refuses new
connections at once and lets the processes drain, and processes that keep failing to start stop the API with
uvicorn's startup-failure code."""

import concurrent.futures
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from gatekit import AUTH, ROOT, backends_waiting, free_port, poll

pytestmark = pytest.mark.slow


def serving(parent: psutil.Process) -> list[psutil.Process]:
    """The parent's serving processes (not multiprocessing's resource tracker)."""
    try:
        return [c for c in parent.children() if "multiprocessing.spawn" in " ".join(c.cmdline())]
    except psutil.NoSuchProcess:
        return []


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(("0.0.0.0", port))  # noqa: S104 -- where the API listens
        except OSError:
            return False
        return True


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def api(
    tmp_path: Path, fresh_database: Callable[[], str], private_redis: Callable[[], str]
) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database(),
        "REDIS_URL": private_redis(),
        "TEST_MODE": "true",
        "PORT": str(port),
        "API_WORKERS": "2",
    }
    with open(tmp_path / "api.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "paygate", "api"], env=env, cwd=ROOT, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: healthy(url), bool, timeout=90, what="the API to answer")
        yield proc, url, port
    finally:
        proc.kill()
        proc.wait(10)
        for child in psutil.process_iter():  # any serving process left behind by a failed test: this API's port
            with contextlib.suppress(psutil.Error):
                if "spawn_main" in " ".join(child.cmdline()) and child.environ().get("PORT") == str(port):
                    child.kill()


def test_two_processes_serve_and_one_killed_is_replaced(api: tuple[subprocess.Popen[bytes], str, int]) -> None:
    proc, url, _ = api
    parent = psutil.Process(proc.pid)
    first = poll(lambda: serving(parent), lambda ps: len(ps) == 2, timeout=60, what="two serving processes")
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        for _ in range(10):  # each on a new connection: either process may take it
            r = httpx.post(f"{url}/api/v1/orders", json={"amount": 50000, "currency": "INR"}, headers=AUTH, timeout=10)
            assert r.status_code == 201, r.text
        first[0].send_signal(signal.SIGKILL)
        now = poll(
            lambda: serving(parent),
            lambda ps: len(ps) == 2 and first[0].pid not in {p.pid for p in ps},
            timeout=60,
            what="the killed process replaced",
        )
        assert first[1].pid in {p.pid for p in now}  # the other went on serving
        poll(lambda: client.get("/health").status_code, lambda code: code == 200, timeout=60, what="answers")
    assert proc.poll() is None


def test_the_processes_end_with_their_parent_and_free_the_port(api: tuple[subprocess.Popen[bytes], str, int]) -> None:
    proc, url, port = api
    children = poll(lambda: serving(psutil.Process(proc.pid)), lambda ps: len(ps) == 2, timeout=60, what="two")
    proc.send_signal(signal.SIGKILL)  # a crash: the parent cleans nothing up
    proc.wait(10)
    poll(lambda: alive(children), lambda left: not left, timeout=30, what="the serving processes to end")
    assert not healthy(url)
    poll(lambda: bindable(port), bool, timeout=30, what="the port to be free for a new API")


def test_sigterm_stops_every_process_cleanly(api: tuple[subprocess.Popen[bytes], str, int]) -> None:
    proc, _, port = api
    children = poll(lambda: serving(psutil.Process(proc.pid)), lambda ps: len(ps) == 2, timeout=60, what="two")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert not alive(children)
    assert bindable(port)


def test_after_sigterm_new_connections_are_refused_while_requests_in_flight_finish(
    api: tuple[subprocess.Popen[bytes], str, int],
) -> None:
    """A request held in the database (a table lock) finishes after SIGTERM, while a new connection is refused
    (not left waiting in the socket's queue): what a load balancer needs to send it elsewhere at once."""
    proc, url, port = api
    database_url = psutil.Process(proc.pid).environ()["DATABASE_URL"]
    body = {"amount": 50000, "currency": "INR"}
    with psycopg.connect(database_url) as locker, concurrent.futures.ThreadPoolExecutor(1) as ex:
        locker.execute("LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE")
        keyed = {**AUTH, "Idempotency-Key": "drain-1"}  # a keyed create writes the locked table
        held = ex.submit(httpx.post, f"{url}/api/v1/orders", json=body, headers=keyed, timeout=60)
        waits = lambda: backends_waiting(database_url, "relation")  # noqa: E731
        poll(waits, lambda n: n >= 1, timeout=60, what="the request to reach the lock")
        proc.send_signal(signal.SIGTERM)
        poll(lambda: _refused(port), bool, timeout=30, what="new connections refused")
        locker.rollback()
        assert held.result().status_code == 201
    assert proc.wait(60) == 0


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_processes_that_cannot_start_stop_the_api_with_the_startup_failure_code() -> None:
    port = free_port()
    code = f"from paygate import serving; serving.run('no_such_module:app', workers=2, host='127.0.0.1', port={port})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 3, err  # uvicorn's STARTUP_FAILURE
    assert b"no_such_module" in err
    assert bindable(port)
