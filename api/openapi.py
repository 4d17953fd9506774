"""The OpenAPI document as the server answers: FastAPI's generated 422s are dropped, since every malformed
request is answered 400 BAD_REQUEST_ERROR (``api.errors``), which each operation documents itself."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_UNUSED = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            for path in doc.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = doc.get("components", {}).get("schemas", {})
            for name in _UNUSED:
                schemas.pop(name, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
