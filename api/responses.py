"""Response bodies: compact JSON via orjson, and SPEC.md's timestamp format."""

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    """A JSON response serialised with orjson, keeping exactly the keys given."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second (``2024-01-15T10:31:00Z``)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The Razorpay collection shape."""
    return {"entity": "collection", "count": len(items), "items": items}
