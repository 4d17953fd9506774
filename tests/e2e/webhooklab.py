"""Helpers of the webhook tests: the real test receiver as a process, and checks of signatures by the
`standardwebhooks` library and by Node's crypto."""

import base64
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from gatekit import ROOT, poll
from harness import free_port as free_port
from standardwebhooks.webhooks import Webhook


@dataclass
class Receiver:
    """``paygate receiver`` running as its own process."""

    secret: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def logs(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = httpx.get(f"http://127.0.0.1:{self.port}/logs", timeout=10).json()["items"]
        return items

    def wait_for(self, count: int, timeout: float = 60, what: str = "") -> list[dict[str, Any]]:
        """The receiver's records once it holds at least ``count``."""
        records: list[dict[str, Any]] = poll(
            self.logs, lambda r: len(r) >= count, timeout, what or f"{count} deliveries at {self.url}"
        )
        return records


@contextlib.contextmanager
def receiver(secret: str, logs: Path, *, fail_first: int = 0, delay_ms: int = 0) -> Iterator[Receiver]:
    port = free_port()
    args = ["--secret", secret, "--port", str(port), "--host", "127.0.0.1", "--fail-first", str(fail_first)]
    with open(logs / f"receiver-{port}.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "paygate", "receiver", *args, "--delay-ms", str(delay_ms)],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
    r = Receiver(secret, port, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"receiver did not start; see {logs}")
            time.sleep(0.1)
        yield r
    finally:
        proc.terminate()
        proc.wait(10)


def configure(api: httpx.Client, url: str | None, events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url} if events is None else {"url": url, "events": events}
    r = api.put("/api/v1/webhooks/config", json=body)
    assert r.status_code == 200, r.text
    config: dict[str, Any] = r.json()
    return config


def standard_verifies(secret: str, record: dict[str, Any]) -> bool:
    """The `standardwebhooks` library's verdict (it takes the key as base64 of the secret's bytes)."""
    try:
        Webhook(base64.b64encode(secret.encode()).decode()).verify(record["body"], record["headers"])
    except Exception:
        return False
    return True


_NODE = r"""
const crypto = require('crypto');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const key = Buffer.from(input.secret, 'utf8');
const out = input.records.map((r) => {
  const body = JSON.stringify(JSON.parse(r.body));
  const h = r.headers;
  const hex = crypto.createHmac('sha256', key).update(body, 'utf8').digest('hex');
  const signed = `${h['webhook-id']}.${h['webhook-timestamp']}.${body}`;
  const v1 = 'v1,' + crypto.createHmac('sha256', key).update(signed, 'utf8').digest('base64');
  const standard = h['webhook-signature'].split(' ').includes(v1);
  return {same_bytes: body === r.body, hex: hex === h['x-webhook-signature'], standard};
});
process.stdout.write(JSON.stringify(out));
"""


def node_verdicts(secret: str, records: list[dict[str, Any]]) -> list[dict[str, bool]]:
    """Node's crypto over ``JSON.stringify(JSON.parse(body))``, as a JavaScript merchant would verify."""
    payload = json.dumps({"secret": secret, "records": [{"body": r["body"], "headers": r["headers"]} for r in records]})
    out = subprocess.run(["node", "-e", _NODE], input=payload.encode(), capture_output=True, check=True, timeout=60)
    verdicts: list[dict[str, bool]] = json.loads(out.stdout)
    return verdicts
