"""Request bodies read strictly before FastAPI parses them: JSON content type, and no key given twice.

FastAPI treats a body without a JSON content type as bytes (so a right body sent as text/plain was reported as
"not a JSON object"), and ``json.loads`` keeps the last of duplicate keys (so ``{"amount":500,"amount":700}``
made an order of 700). Both are refused here with a message that says what is wrong.
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from commands.errors import ValidationFailed


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise DuplicateKey
    return dict(pairs)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def check_body(content_type: str | None, body: bytes) -> Any:
    """Raises ValidationFailed for a body that is not sent as JSON or names a key twice; returns the parsed
    body (None for an empty or malformed one, which FastAPI's own parse reports)."""
    if not body.strip():
        return None
    if not is_json(content_type or ""):
        raise ValidationFailed("Content-Type must be application/json")
    try:
        return json.loads(body, object_pairs_hook=_no_duplicates)
    except DuplicateKey:
        raise ValidationFailed("Request body must not repeat a key") from None
    except (ValueError, RecursionError):
        return None


class StrictJsonRoute(APIRoute):
    """A route that checks its body with ``check_body`` first; routes without a body are left as they are."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            check_body(request.headers.get("content-type"), await request.body())
            return await handler(request)

        return strict
