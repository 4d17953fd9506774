"""Request and response schemas: strict types, unknown fields refused (so a typo is an error, not a no-op)."""

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
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


#: Razorpay's limits on ``notes``: at most 15 keys, each value a string, number or boolean of at most 256
#: characters, no nesting.
MAX_NOTES = 15
MAX_NOTE_LENGTH = 256


def _flat_notes(value: Any) -> Any:
    if not isinstance(value, dict):
        return value  # the type check reports it
    if len(value) > MAX_NOTES:
        raise PydanticCustomError("notes", f"notes may have at most {MAX_NOTES} keys")
    for key, note in value.items():
        if isinstance(note, dict | list) or note is None:
            raise PydanticCustomError("notes", "notes values must be a string, number or boolean (no nesting)")
        if len(key) > MAX_NOTE_LENGTH or len(str(note)) > MAX_NOTE_LENGTH:
            raise PydanticCustomError("notes", f"notes keys and values must be at most {MAX_NOTE_LENGTH} characters")
    return value


Notes = Annotated[dict[StrictStr, StrictStr | StrictBool | StrictInt | StrictFloat], BeforeValidator(_flat_notes)]


class OrderCreate(Strict):
    amount: StrictInt
    currency: StrictStr = "INR"
    receipt: StrictStr | None = Field(default=None, max_length=40)
    notes: Notes = Field(default_factory=dict)
    #: Razorpay's flag for paying an order in parts; accepted as false (an order here is paid by one payment).
    partial_payment: StrictBool = False

    @model_validator(mode="after")
    def _whole(self) -> "OrderCreate":
        if self.partial_payment:
            raise PydanticCustomError(
                "partial_payment", "partial_payment: true is not supported: an order is paid by one payment in full"
            )
        return self


class CardIn(Strict):
    """Every card field is a JSON string, as typed: a number would lose leading zeros and is refused."""

    number: StrictStr = Field(max_length=32)
    expiry_month: StrictStr = Field(max_length=2)
    expiry_year: StrictStr = Field(max_length=4)
    cvv: StrictStr = Field(max_length=4)
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
    """``amount`` left out refunds what is left of the payment (all of it, with no refund before)."""

    amount: StrictInt | None = None
    reason: StrictStr | None = Field(default=None, max_length=255)
    notes: Notes = Field(default_factory=dict)
    #: Razorpay's refund speed; every refund here goes at ``normal`` speed, which is what is recorded.
    speed: Literal["normal", "optimum"] | None = None


class RefundOfPayment(RefundCreate):
    """``POST /api/v1/refunds``: the payment named in the body."""

    payment_id: StrictStr = Field(max_length=64)


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


class PaymentPublicOut(BaseModel):
    """What a checkout page sees: the error only once failed, ``signature`` only once succeeded."""

    id: str
    order_id: str
    amount: int
    currency: str
    method: str
    status: str
    error_code: str | None = None
    error_description: str | None = None
    signature: str | None = Field(
        default=None, description="hex HMAC-SHA256 of `order_id|payment_id` keyed with the merchant's API secret"
    )


class CheckoutConfigIn(Strict):
    """The origins (``https://shop.example.com``) allowed to embed the merchant's checkout; empty: any."""

    allowed_origins: list[StrictStr] = Field(max_length=20)


class CheckoutConfigOut(BaseModel):
    allowed_origins: list[str]


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount: int
    reason: str | None
    notes: dict[str, Any]
    speed_processed: str
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


#: Each error code and the HTTP status it comes with.
ERROR_STATUS = {
    "BAD_REQUEST_ERROR": 400,
    "INVALID_VPA": 400,
    "INVALID_CARD": 400,
    "EXPIRED_CARD": 400,
    "AUTHENTICATION_ERROR": 401,
    "NOT_FOUND_ERROR": 404,
    "CONFLICT_ERROR": 409,
}


def errors(*codes: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an operation that answers exactly these error codes."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        status = ERROR_STATUS[code]
        entry = out.setdefault(status, {"model": ErrorOut, "description": ""})
        entry["description"] = ", ".join(filter(None, (entry["description"], code)))
    return out


#: What every authenticated read answers besides 200 (a malformed query or path is a 400).
READ = ("BAD_REQUEST_ERROR", "AUTHENTICATION_ERROR")
#: A public (unauthenticated) read of one object.
PUBLIC = ("BAD_REQUEST_ERROR", "NOT_FOUND_ERROR")
#: An authenticated read of one object.
READ_ONE = (*READ, "NOT_FOUND_ERROR")
#: An authenticated change of an object: 409 when a competing request or an ``Idempotency-Key`` in flight holds it.
WRITE = (*READ_ONE, "CONFLICT_ERROR")
#: The default of a router; operations name their own.
ERRORS = errors(*WRITE)
