"""Request and response schemas: strict types, unknown fields refused (so a typo is an error, not a no-op)."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _digits_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: Card fields clients send either as text ("12") or as numbers (12).
Digits = Annotated[StrictStr, BeforeValidator(_digits_as_text)]


class OrderCreate(Strict):
    amount: StrictInt
    currency: StrictStr = "INR"
    receipt: StrictStr | None = Field(default=None, max_length=40)
    notes: dict[str, Any] = Field(default_factory=dict, max_length=15)


class CardIn(Strict):
    number: Digits = Field(max_length=32)
    expiry_month: Digits = Field(max_length=2)
    expiry_year: Digits = Field(max_length=4)
    cvv: Digits = Field(max_length=4)
    holder_name: StrictStr = Field(max_length=100)


class PaymentCreate(Strict):
    order_id: StrictStr = Field(max_length=64)
    method: StrictStr
    vpa: StrictStr | None = Field(default=None, max_length=255)
    card: CardIn | None = None


# ---------------------------------------------------------------- responses (documentation of the shapes)


class OrderOut(BaseModel):
    id: str
    merchant_id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    status: str
    created_at: str
    updated_at: str


class OrderPublicOut(BaseModel):
    id: str
    amount: int
    currency: str
    status: str


class PaymentOut(BaseModel):
    id: str
    order_id: str
    amount: int
    currency: str
    method: str
    vpa: str | None = None
    card_network: str | None = None
    card_last4: str | None = None
    status: str
    captured: bool
    error_code: str | None
    error_description: str | None
    created_at: str
    updated_at: str


class CollectionOut(BaseModel):
    entity: str = "collection"
    count: int
    items: list[dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str
    description: str


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "BAD_REQUEST_ERROR, INVALID_VPA, INVALID_CARD or EXPIRED_CARD"},
    401: {"model": ErrorOut, "description": "AUTHENTICATION_ERROR"},
    404: {"model": ErrorOut, "description": "NOT_FOUND_ERROR"},
}
