"""The test webhook receiver (``paygate receiver``): verifies both signature schemes, records every delivery,
and can fail the first N deliveries or answer slowly, for retry testing.

``POST /webhook`` answers 200 to a delivery whose signatures both verify, 401 to one that does not, and 500 to
the first ``--fail-first`` deliveries. ``GET /logs`` lists what arrived (``DELETE /logs`` forgets it);
``GET /health`` says it is up.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from projections.jsjson import stringify
from workers import signing

_STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass
class Receiver:
    """What the receiver was told and what it has received."""

    secret: str
    fail_first: int = 0
    delay_ms: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    def check(self, raw: bytes, headers: dict[str, str], received_at: float) -> dict[str, Any]:
        """Verify one delivery and record it; the record says how it will be answered."""
        hex_ok = signing.verify_hex(self.secret, raw, headers.get("x-webhook-signature"))
        standard_ok = signing.verify_standard(self.secret, raw, headers, received_at)
        try:
            parsed = json.loads(raw)
            event = parsed.get("event") if isinstance(parsed, dict) else None
            canonical = stringify(parsed).encode() == raw  # what a JSON.stringify re-serialisation would give
        except (ValueError, TypeError):
            event, canonical = None, False
        n = len(self.records) + 1
        status = 401 if not (hex_ok and standard_ok) else 500 if n <= self.fail_first else 200
        record = {
            "n": n,
            "received_at": received_at,
            "webhook_id": headers.get("webhook-id"),
            "event": event,
            "signature_valid": hex_ok,
            "standard_signature_valid": standard_ok,
            "canonical": canonical,
            "status": status,
            "headers": {
                k: headers[k] for k in ("x-webhook-signature", "content-type", *_STANDARD_HEADERS) if k in headers
            },
            "body": raw.decode("utf-8", errors="replace"),
        }
        self.records.append(record)
        return record


def app(receiver: Receiver) -> Starlette:
    async def webhook(request: Request) -> JSONResponse:
        received_at = time.time()
        record = receiver.check(await request.body(), {k.lower(): v for k, v in request.headers.items()}, received_at)
        if receiver.delay_ms:
            await asyncio.sleep(receiver.delay_ms / 1000)
        answer = {200: "received", 401: "signature invalid", 500: "failing on purpose"}[record["status"]]
        return JSONResponse({"status": answer, "n": record["n"]}, status_code=record["status"])

    async def logs(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            receiver.records.clear()
        return JSONResponse({"count": len(receiver.records), "items": receiver.records})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "received": len(receiver.records)})

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/logs", logs, methods=["GET", "DELETE"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def serve(secret: str, host: str, port: int, *, fail_first: int = 0, delay_ms: int = 0) -> None:
    """Run the receiver until interrupted."""
    receiver = Receiver(secret, fail_first=fail_first, delay_ms=delay_ms)
    print(f"paygate receiver: POST http://{host}:{port}/webhook (fail first {fail_first}, delay {delay_ms} ms)")
    uvicorn.run(app(receiver), host=host, port=port, log_level="warning", access_log=False)
