"""The JSON log lines: written together once per event-loop turn, warnings at once, nothing lost at exit."""

import asyncio
import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api import logging as applog

ROOT = Path(__file__).resolve().parents[2]


class Recording:
    """Stands for stdout: records each write that reaches its byte buffer."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffer = self

    def write(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def test_lines_logged_in_one_loop_turn_go_out_in_one_write_after_it() -> None:
    out = Recording()
    lines = applog.Lines(lambda: out)  # type: ignore[arg-type,return-value]

    async def main() -> None:
        for n in range(3):
            lines.later(f'{{"n":{n}}}'.encode())
        assert out.writes == []  # still this turn
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert out.writes == [b'{"n":0}\n{"n":1}\n{"n":2}\n']


def test_a_warning_goes_out_at_once_after_the_lines_waiting_before_it() -> None:
    out = Recording()
    lines = applog.Lines(lambda: out)  # type: ignore[arg-type,return-value]

    async def main() -> None:
        lines.later(b"first")
        lines.now(b"warning")
        assert out.writes == [b"first\nwarning\n"]
        lines.later(b"after")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert out.writes == [b"first\nwarning\n", b"after\n"]


def test_a_line_from_a_thread_without_a_loop_goes_out_at_once() -> None:
    out = Recording()
    applog.Lines(lambda: out).later(b"alone")
    assert out.writes == [b"alone\n"]


def run_python(code: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_structlog_and_library_lines_share_the_order_and_the_compact_format() -> None:
    code = """
import asyncio, logging, structlog
from api.logging import configure
configure("INFO")
log = structlog.get_logger("t")
async def main():
    log.info("one", big=2**70, when=object)
    logging.getLogger("lib").info("two")
    log.error("three")
    log.debug("hidden")
asyncio.run(main())
"""
    lines = run_python(code)
    assert [line["event"] for line in lines] == ["one", "two", "three"]
    assert lines[0]["big"] == 2**70  # past orjson's 64 bits: rendered by json instead, still one line
    assert (lines[1]["logger"], lines[2]["level"]) == ("lib", "error")


def test_lines_waiting_when_the_loop_stops_are_written_at_exit() -> None:
    code = """
import asyncio, structlog
from api.logging import configure
configure("INFO")
loop = asyncio.new_event_loop()
loop.call_soon(lambda: (structlog.get_logger("t").info("last words"), loop.stop()))
loop.run_forever()  # stops before the turn that would have written the line
"""
    assert [line["event"] for line in run_python(code)] == ["last words"]


def test_the_handler_of_library_records_never_raises() -> None:
    out = Recording()
    handler = applog.LineHandler(applog.Lines(lambda: out))
    handler.setFormatter(logging.Formatter("%(message)s %(missing)s"))
    record = logging.LogRecord("lib", logging.INFO, __file__, 1, "hello", None, None)
    saved, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        handler.emit(record)  # the format fails: reported by logging's own handleError, not raised
    finally:
        logging.raiseExceptions = saved
    assert out.writes == []


ACCESS = """
import asyncio, structlog
from api.logging import access_line, configure, end, info
configure({level!r})
scope = {{"type": "http", "method": "GET", "path": "/api/v1/payments/pay_1", "headers": [],
          "path_params": {{"payment_id": "pay_1", "other": "x"}}}}
async def main():
    structlog.contextvars.bind_contextvars(request_id="r1", merchant_id="m1", status="bound")
    {calls}
asyncio.run(main())
"""
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_the_access_line_is_the_line_structlog_would_write() -> None:
    calls = """access_line(scope, 200, 1.25)
    structlog.get_logger("access").info("request", payment_id="pay_1", method="GET", path=scope["path"],
                                        status=200, ms=1.25)"""
    direct, through = run_python(ACCESS.format(level="INFO", calls=calls))
    assert list(direct) == list(through)  # the same keys in the same order
    assert STAMP.fullmatch(direct.pop("timestamp")) and STAMP.fullmatch(through.pop("timestamp"))
    assert direct == through
    assert direct["status"] == 200 and direct["request_id"] == "r1"  # a bound key never replaces the line's own


def test_an_info_line_is_the_line_structlog_would_write() -> None:
    calls = """info("payment.decided", payment_id="pay_1", status="success")
    structlog.get_logger("worker").info("payment.decided", payment_id="pay_1", status="success")"""
    direct, through = run_python(ACCESS.format(level="INFO", calls=calls))
    assert list(direct) == list(through)
    assert STAMP.fullmatch(direct.pop("timestamp")) and STAMP.fullmatch(through.pop("timestamp"))
    assert direct == through and direct["status"] == "success"
    calls = """info("payment.decided", payment_id="pay_1")
    structlog.get_logger("t").warning("after")"""
    assert [line["event"] for line in run_python(ACCESS.format(level="WARNING", calls=calls))] == ["after"]


def test_an_access_line_is_written_only_where_info_lines_are() -> None:
    calls = """end(scope, 204, 0.0)
    structlog.get_logger("t").warning("after")"""
    assert [line["event"] for line in run_python(ACCESS.format(level="INFO", calls=calls))] == ["request", "after"]
    assert [line["event"] for line in run_python(ACCESS.format(level="WARNING", calls=calls))] == ["after"]


@given(st.lists(st.integers(0, 253_402_300_799_999_999_999), min_size=1, max_size=20))
def test_timestamps_are_iso_utc_with_six_digits_of_microseconds(moments: list[int]) -> None:
    for ns in moments:  # in any order, so a second remembered from the one before is never reused wrongly
        expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
        assert applog.iso_utc(ns) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
