"""Request bodies read strictly before FastAPI parses them: JSON content type, and no key given twice.

FastAPI treats a body without a JSON content type as bytes (so a right body sent as text/plain was reported as
"not a JSON object"), and ``json.loads`` keeps the last of duplicate keys (so ``{"amount":500,"amount":700}``
made an order of 700). Both are refused here with a message that says what is wrong.
"""

import json
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from commands.errors import ValidationFailed
from ledger import jsontext


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise DuplicateKey
    return dict(pairs)


def _keys(value: Any) -> int:
    """How many keys the objects in ``value`` hold, at every depth."""
    values: Iterable[Any]
    if isinstance(value, dict):
        count, values = len(value), value.values()
    elif isinstance(value, list):
        count, values = 0, value
    else:
        return 0
    for v in values:
        if isinstance(v, (dict, list)):
            count += _keys(v)
    return count


def _unique(body: bytes) -> Any:
    """The body as orjson parses it, where that is what ``json.loads`` gives (``ledger.jsontext``) and its objects
    hold a key for each colon of the text: then no key was given twice, nor does any string hold a colon. 18
    thousand instructions for a typical body, where the ``object_pairs_hook`` parse takes 45. None otherwise
    (invalid JSON, a long number, a colon inside a string, a key given twice): that parse decides."""
    try:
        parsed = jsontext.loads(body)
    except (ValueError, RecursionError):
        return None
    return parsed if body.count(b":") == _keys(parsed) else None


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
    if isinstance(parsed := _unique(body), dict):
        return parsed
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
