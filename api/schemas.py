"""Request and response schemas: strict types, unknown fields refused (so a typo is an error, not a no-op)."""

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

#: The largest number a body may hold anywhere: what every JSON reader keeps exact (JavaScript's safe integers).
SAFE_INTEGER = 2**53 - 1
#: The largest `skip` of a list: an OFFSET the database takes, so an absurd one is a 400 and not an overflow.
MAX_SKIP = 1_000_000_000


def _storable(data: Any) -> None:
    """Refuse what PostgreSQL text/jsonb or the JSON encoder cannot hold, in free-form values (notes) as well:
    NUL characters, lone surrogates, NaN and infinities, integers beyond the safe range. Iterative, so a deeply
    nested body is no recursion error."""
    todo = [data]
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise PydanticCustomError("storable", "text must not contain NUL characters")
            try:
                value.encode()
            except UnicodeEncodeError:
                raise PydanticCustomError("storable", "text must be valid Unicode") from None
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if abs(value) > SAFE_INTEGER:
                raise PydanticCustomError("storable", "numbers must be between -(2^53-1) and 2^53-1")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise PydanticCustomError("storable", "numbers must be finite")
        elif isinstance(value, dict):
            todo.extend(value)
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _only_storable_values(cls, data: Any) -> Any:
        _storable(data)
        return data


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


class CaptureIn(Strict):
    amount: StrictInt
    currency: StrictStr | None = Field(default=None, max_length=3)


class RefundCreate(Strict):
    """``amount`` left out refunds the whole payment amount (as Razorpay does)."""

    amount: StrictInt | None = None
    reason: StrictStr | None = Field(default=None, max_length=255)


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
    amount_refunded: int = 0
    refund_status: str | None = None
    error_code: str | None
    error_description: str | None
    created_at: str
    updated_at: str


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount: int
    reason: str | None
    status: str
    created_at: str
    processed_at: str | None


class BalanceOut(BaseModel):
    currency: str
    payments_succeeded: int
    captured: int
    refunds_pending: int
    refunds_processed: int
    payable: int
    available: int


class BalancesOut(BaseModel):
    merchant_id: str
    balances: list[BalanceOut]


class CollectionOut(BaseModel):
    entity: str = "collection"
    count: int
    items: list[dict[str, Any]]


class WebhookConfigIn(Strict):
    """``url`` null turns deliveries off; ``events`` left out keeps the current subscription (default: all)."""

    url: StrictStr | None = Field(max_length=2048)
    events: list[StrictStr] | None = Field(default=None, max_length=20)


class WebhookConfigOut(BaseModel):
    url: str | None
    events: list[str]
    secret: str


class WebhookLogOut(BaseModel):
    id: str
    event: str
    status: str
    attempts: int
    created_at: str
    last_attempt_at: str | None
    next_retry_at: str | None
    response_code: int | None


class WebhookLogDetailOut(WebhookLogOut):
    merchant_id: str
    payload: dict[str, Any]
    response_body: str | None
    error: str | None
    updated_at: str


class WebhookLogsOut(BaseModel):
    data: list[WebhookLogOut]
    total: int
    limit: int
    offset: int


class WebhookRetryOut(BaseModel):
    id: str
    status: str
    message: str


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
