"""The API's transport wrapper sends the writes of one event-loop turn (a response's head and body) as one."""

import asyncio
from typing import Any

from paygate.protocol import Coalescing


class Recording:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else None


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_go_out_as_one_write_at_its_end() -> None:
    inner = Recording()
    t = Coalescing(inner)  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    t.write(bytearray(b"{}"))
    assert inner.sent == []
    await next_turn()
    assert inner.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    t.write(b"next")
    await next_turn()
    assert inner.sent[1:] == [b"next"]


async def test_close_sends_what_waits_first_and_abort_drops_it() -> None:
    inner = Recording()
    t = Coalescing(inner)  # type: ignore[arg-type]
    t.write(b"head")
    t.write(b"body")
    t.close()
    assert inner.sent == [b"headbody"] and inner.closed
    await next_turn()  # the flush already scheduled finds nothing left to send
    assert inner.sent == [b"headbody"]

    dropped = Recording()
    t = Coalescing(dropped)  # type: ignore[arg-type]
    t.write(b"never")
    t.abort()
    await next_turn()
    assert dropped.sent == [] and dropped.aborted


async def test_nothing_is_written_to_a_transport_that_closed_meanwhile() -> None:
    inner = Recording()
    t = Coalescing(inner)  # type: ignore[arg-type]
    t.write(b"late")
    inner.closed = True  # the client went away before the turn ended
    await next_turn()
    assert inner.sent == []
    assert t.get_extra_info("sockname") == ("127.0.0.1", 8000)  # everything else is the transport's own
