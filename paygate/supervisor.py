"""``paygate run``'s supervisor: restarts a part that died, with backoff, and gives up only on one that keeps dying.

Each tick it publishes every part's state to Redis (``PARTS_KEY``), where ``/health`` and ``/metrics`` read it.
"""

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workers.jobs import PARTS_KEY

TICK_S = 0.5


@dataclass
class Part:
    name: str
    proc: "subprocess.Popen[bytes] | None"
    restarts: int = 0
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None
    since: float = field(default_factory=time.time)

    @property
    def state(self) -> str:
        return "restarting" if self.restart_at is not None else "running"


def restart_delay_s(recent_deaths: int, cap_s: float = 30.0) -> float:
    """Capped exponential backoff with jitter: 0.5 s after a first death, doubling while it keeps dying."""
    return float(min(cap_s, 0.5 * 2 ** max(0, recent_deaths - 1)) * random.uniform(0.8, 1.2))


class Supervisor:
    def __init__(
        self,
        spawn: Callable[[str], "subprocess.Popen[bytes]"],
        parts: tuple[str, ...],
        *,
        max_deaths: int,
        window_s: float,
        publish: Callable[[dict[str, dict[str, Any]]], None] = lambda _: None,
    ) -> None:
        self.spawn = spawn
        self.max_deaths = max_deaths
        self.window_s = window_s
        self.publish = publish
        self.parts = {name: Part(name, spawn(name)) for name in parts}

    def tick(self, now: float) -> str | None:
        """Restart what is due, notice what died; returns the name of a part that keeps dying (give up), if any."""
        for part in self.parts.values():
            if part.restart_at is not None:
                if now >= part.restart_at:
                    part.proc, part.restart_at, part.since = self.spawn(part.name), None, time.time()
                    part.restarts += 1
                continue
            assert part.proc is not None
            code = part.proc.poll()
            if code is None:
                continue
            part.deaths = [t for t in part.deaths if now - t < self.window_s] + [now]
            if len(part.deaths) > self.max_deaths:
                return part.name
            delay = restart_delay_s(len(part.deaths))
            part.restart_at, part.since = now + delay, time.time()
            print(
                f"paygate: {part.name} exited with {code}; restarting it in {delay:.1f} s "
                f"({len(part.deaths)} deaths in the last {self.window_s:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        self._publish()
        return None

    def _publish(self) -> None:
        try:
            self.publish(
                {
                    p.name: {
                        "state": p.state,
                        "pid": p.proc.pid if p.proc and p.restart_at is None else None,
                        "restarts": p.restarts,
                        "since": p.since,
                    }
                    for p in self.parts.values()
                }
            )
        except Exception as exc:  # Redis away: the parts still run, only /health cannot tell
            print(f"paygate: could not publish part states: {exc}", file=sys.stderr, flush=True)

    def run(self, stop: threading.Event) -> str | None:
        """Supervise until ``stop`` is set (None) or a part keeps dying (its name)."""
        while not stop.wait(TICK_S):
            if (failed := self.tick(time.monotonic())) is not None:
                return failed
        return None

    def stop_all(self, timeout: float = 20) -> None:
        """SIGTERM every live part, wait for all of them together, SIGKILL what is left after ``timeout``."""
        live = [p.proc for p in self.parts.values() if p.proc is not None and p.proc.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def redis_publisher(redis_url: str) -> Callable[[dict[str, dict[str, Any]]], None]:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)

    def publish(states: dict[str, dict[str, Any]]) -> None:
        with client.pipeline() as pipe:
            pipe.delete(PARTS_KEY)
            pipe.hset(PARTS_KEY, mapping={name: json.dumps(s) for name, s in states.items()})
            pipe.expire(PARTS_KEY, 10)
            pipe.execute()

    return publish
