"""Wake-ups for idle Dramatiq consumers, so an idle worker waits on a socket instead of polling Redis.

Dramatiq's Redis consumer polls an empty queue every ``worker_timeout`` (100 ms): with a consumer per queue
and delay queue, an idle worker spent 4–5 % of a core on it. Here every enqueue also publishes the queue's
name on one channel (a delayed one only when it is due soon: ``broker.rings``), a thread per consuming process
listens, and a consumer with nothing in hand (nothing fetched, nothing running, no delayed message held) waits
for its queue's bell for up to ``IDLE_S`` before it looks again; one with work in hand waits for it up to its
poll interval, where Dramatiq would sleep. Any consumer while the listener is not subscribed (Redis restarting,
say) polls exactly as Dramatiq does: the bell only ever shortens a wait, and a lost ring costs at most
``IDLE_S`` of pick-up.
"""

import contextlib
import threading
import time
from collections import defaultdict
from typing import Any

import redis
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.errors import ConnectionClosed

#: Longest wait of an idle consumer between looks at its queue; also keeps the broker's heartbeat fresh (15 s).
IDLE_S = 1.0
#: Pause before the listener subscribes again after losing its connection.
RETRY_S = 1.0


def channel(client: redis.Redis, namespace: str) -> str:
    """The channel every enqueue publishes its queue's name on. Channels span a server's numbered databases,
    so the database is part of the name: gateways on one server in different databases never wake each other."""
    return f"{namespace}:{client.connection_pool.connection_kwargs.get('db', 0)}:enqueued"


class Doorbell:
    """One subscriber thread for a process: sets the bell of each queue named on the channel."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._bells: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()
        #: Set while subscribed: only then may a consumer wait on its bell instead of polling.
        self.listening = threading.Event()
        self._thread: threading.Thread | None = None

    def bell(self, queue_name: str) -> threading.Event:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="paygate-doorbell", daemon=True)
                self._thread.start()
            return self._bells[queue_name]

    def _listen(self) -> None:
        while True:
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call, unused-ignore]  # redis 8 types pubsub(), not listen()
            try:
                pubsub.subscribe(self._channel)
                for message in pubsub.listen():  # type: ignore[no-untyped-call, unused-ignore]
                    if message["type"] == "subscribe":
                        self.listening.set()  # rings sent from now on reach us
                    elif message["type"] == "message":
                        with self._lock:
                            self._bells[message["data"].decode()].set()
            except redis.RedisError:
                pass
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()  # its connection is broken: do not leave it to the pool
            self.listening.clear()
            with self._lock:
                for bell in self._bells.values():
                    bell.set()  # every waiter back to polling until we are subscribed again
            time.sleep(RETRY_S)


class WakingConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, which waits on its queue's bell instead of sleeping between looks: for up to
    ``IDLE_S`` with nothing in hand, for up to its poll interval (``timeout``) with work in hand. Either way an
    enqueue ends the wait, so a message never waits out the poll interval while its worker is busy."""

    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self._doorbell: Doorbell = broker.doorbell
        self._bell = self._doorbell.bell(queue_name)

    def __next__(self) -> Any:
        if self.message_cache or not self._doorbell.listening.is_set():
            return super().__next__()  # type: ignore[no-untyped-call]
        # Clear before looking: a message enqueued after the look rings after the clear, so the wait ends.
        self._bell.clear()
        if (room := self.prefetch - self.outstanding_message_count) > 0:
            try:
                self.message_cache = self.broker.do_fetch(self.queue_name, room)
            except redis.ConnectionError as e:
                raise ConnectionClosed(e) from None  # type: ignore[no-untyped-call]
        if not self.message_cache:
            self._bell.wait(self.timeout / 1000 if self.outstanding_message_count else IDLE_S)
            return None  # the worker's thread handles acks and delayed messages between looks
        return super().__next__()  # type: ignore[no-untyped-call]
