"""Job figures kept in Redis: completed and failed counters, live-worker heartbeats, queue depths."""

import threading
import time
import uuid
from typing import Any

import dramatiq
import redis

NAMESPACE = "paygate"
_COMPLETED = f"{NAMESPACE}:stats:completed"
_FAILED = f"{NAMESPACE}:stats:failed"
_ALIVE = f"{NAMESPACE}:workers:alive"
#: A worker that has not beaten for this long is taken for dead.
HEARTBEAT_TTL_S = 10


class JobCounters(dramatiq.Middleware):
    """Counts finished and dead-lettered jobs, and beats a heartbeat while the worker runs."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.worker_id = uuid.uuid4().hex
        self._stop = threading.Event()

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        if exception is None:
            self.client.incr(_COMPLETED)

    def after_nack(self, broker: Any, message: Any) -> None:
        self.client.incr(_FAILED)

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        threading.Thread(target=self._beat, name="paygate-heartbeat", daemon=True).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()
        self.client.zrem(_ALIVE, self.worker_id)

    def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                self.client.zadd(_ALIVE, {self.worker_id: time.time()})
            except redis.RedisError:
                pass  # Redis away: the beat resumes when it is back
            self._stop.wait(HEARTBEAT_TTL_S / 3)


def live_workers(client: redis.Redis) -> int:
    """Workers that beat within the last ``HEARTBEAT_TTL_S`` seconds."""
    return int(client.zcount(_ALIVE, time.time() - HEARTBEAT_TTL_S, "+inf"))


def status(client: redis.Redis, queues: tuple[str, ...]) -> dict[str, Any]:
    """Queue figures over all queues, read from the broker's own keys in one round trip."""
    pipe = client.pipeline(transaction=False)
    for q in queues:
        pipe.llen(f"{NAMESPACE}:{q}")
        pipe.llen(f"{NAMESPACE}:{q}.DQ")
    pipe.get(_COMPLETED)
    pipe.get(_FAILED)
    pipe.zcount(_ALIVE, time.time() - HEARTBEAT_TTL_S, "+inf")
    *depths, completed, failed, alive = pipe.execute()
    processing = 0
    for key in client.scan_iter(f"{NAMESPACE}:__acks__.*", count=1000):
        processing += int(client.scard(key))
    return {
        "pending": sum(int(d) for d in depths),
        "processing": processing,
        "completed": int(completed or 0),
        "failed": int(failed or 0),
        "worker_status": "running" if int(alive) else "stopped",
    }


#: Redis hash the supervisor (``paygate run``) refreshes: part name → JSON {state, pid, restarts, since}.
PARTS_KEY = f"{NAMESPACE}:parts"


def part_states(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """The part states the supervisor published last ({} when none runs, e.g. parts started one by one)."""
    import json

    raw: dict[Any, Any] = client.hgetall(PARTS_KEY)
    return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in raw.items()}
