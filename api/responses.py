"""Response bodies: compact JSON via orjson, and the collection shape."""

from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    """A JSON response serialised with orjson, keeping exactly the keys given."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The Razorpay collection shape."""
    return {"entity": "collection", "count": len(items), "items": items}
