"""The OpenAPI document says what each operation answers: no FastAPI 422s, each operation's own error codes, and
the Idempotency-Key header where it is honoured."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from api.main import create_app
from paygate.settings import Settings


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    app = create_app(Settings(_env_file=None), "redis://127.0.0.1:1", lambda: None)  # type: ignore[call-arg,arg-type,return-value]
    document: dict[str, Any] = app.openapi()
    return document


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, ops in doc["paths"].items() for m, op in ops.items()}


def codes(op: dict[str, Any]) -> dict[str, set[str]]:
    return {
        status: set(r["description"].split(", ")) for status, r in op["responses"].items() if not status.startswith("2")
    }


def test_no_operation_documents_a_422(doc: dict[str, Any]) -> None:
    assert all("422" not in op["responses"] for op in operations(doc).values())
    assert "HTTPValidationError" not in json.dumps(doc)


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (
            "POST /api/v1/orders",
            {"400": {"BAD_REQUEST_ERROR"}, "401": {"AUTHENTICATION_ERROR"}, "409": {"CONFLICT_ERROR"}},
        ),
        (
            "POST /api/v1/payments",
            {
                "400": {"BAD_REQUEST_ERROR", "INVALID_VPA", "INVALID_CARD", "EXPIRED_CARD"},
                "401": {"AUTHENTICATION_ERROR"},
                "404": {"NOT_FOUND_ERROR"},
                "409": {"CONFLICT_ERROR"},
            },
        ),
        ("GET /api/v1/orders/{order_id}/public", {"400": {"BAD_REQUEST_ERROR"}, "404": {"NOT_FOUND_ERROR"}}),
        ("GET /api/v1/refunds", {"400": {"BAD_REQUEST_ERROR"}, "401": {"AUTHENTICATION_ERROR"}}),
        (
            "GET /api/v1/payments/{payment_id}/refunds/{refund_id}",
            {"400": {"BAD_REQUEST_ERROR"}, "401": {"AUTHENTICATION_ERROR"}, "404": {"NOT_FOUND_ERROR"}},
        ),
    ],
)
def test_each_operation_documents_its_own_error_codes(
    doc: dict[str, Any], operation: str, expected: dict[str, set[str]]
) -> None:
    assert codes(operations(doc)[operation]) == expected


def test_only_payment_creation_names_instrument_errors(doc: dict[str, Any]) -> None:
    for name, op in operations(doc).items():
        if name not in ("POST /api/v1/payments", "POST /api/v1/payments/public"):
            assert not codes(op).get("400", set()) & {"INVALID_VPA", "INVALID_CARD", "EXPIRED_CARD"}, name


@pytest.mark.parametrize(
    "operation",
    [
        "POST /api/v1/orders",
        "POST /api/v1/payments",
        "POST /api/v1/payments/public",
        "POST /api/v1/payments/{payment_id}/capture",
        "POST /api/v1/payments/{payment_id}/refunds",
        "POST /api/v1/refunds",
    ],
)
def test_the_idempotency_key_header_is_documented(doc: dict[str, Any], operation: str) -> None:
    headers = [p["name"] for p in operations(doc)[operation].get("parameters", []) if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]


README = Path(__file__).resolve().parents[2] / "README.md"


def _normalised(operation: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", operation)


def test_the_readme_api_reference_covers_every_operation(doc: dict[str, Any]) -> None:
    text = README.read_text()
    reference = text[text.index("## API reference") :]
    documented = {_normalised(m) for m in re.findall(r"\*\*`((?:GET|POST|PUT|DELETE|PATCH) /[^`]+)`\*\*", reference)}
    served = {_normalised(op) for op in operations(doc) if not op.split()[1].startswith(("/api/v1/test/", "/health"))}
    assert served - documented == set()


def test_the_readme_stands_on_its_own() -> None:
    text = README.read_text()
    assert "<!--" not in text
    assert "SPEC.md" not in text
