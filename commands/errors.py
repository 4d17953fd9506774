"""Domain errors: each has a stable ``code`` (SPEC.md's error codes) and a description merchants can read."""


class DomainError(Exception):
    """Base of every business-rule failure; never retried."""

    code = "BAD_REQUEST_ERROR"

    def __init__(self, description: str, *, field: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.field = field


class ValidationFailed(DomainError):
    """Raised when a request breaks a validation rule of SPEC.md."""


class InvalidVpa(DomainError):
    """Raised when a UPI address does not have the form user@handle."""

    code = "INVALID_VPA"


class InvalidCard(DomainError):
    """Raised when a card number is not 13–19 digits passing the Luhn check, or its CVV or expiry is malformed."""

    code = "INVALID_CARD"


class ExpiredCard(DomainError):
    """Raised when a card's expiry is before the current month."""

    code = "EXPIRED_CARD"


class NotFound(DomainError):
    """Raised when an object does not exist or belongs to another merchant."""

    code = "NOT_FOUND_ERROR"


class OrderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Order not found")


class PaymentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Payment not found")


class RefundNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Refund not found")


class WebhookNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Webhook not found")


class InvalidTransition(DomainError):
    """Raised when a command does not fit the aggregate's current state."""


class OrderAlreadyPaid(InvalidTransition):
    def __init__(self) -> None:
        super().__init__("Order is already paid")


class DuplicateMerchant(DomainError):
    """Raised when a merchant's email or API key is already registered."""


class Unauthenticated(DomainError):
    """Raised when API credentials are missing or wrong."""

    code = "AUTHENTICATION_ERROR"

    def __init__(self) -> None:
        super().__init__("Invalid API credentials")


class Conflict(DomainError):
    """Raised when a competing request holds the same resource and the caller should try again."""

    code = "CONFLICT_ERROR"


class NotCapturable(InvalidTransition):
    """Raised when a payment is not a successful, not yet captured one."""

    def __init__(self) -> None:
        super().__init__("Payment not in capturable state")


class NotRefundable(InvalidTransition):
    """Raised when a refund is asked of a payment that did not succeed."""

    def __init__(self) -> None:
        super().__init__("Payment not in refundable state")


class RefundExceedsAvailable(DomainError):
    """Raised when a refund asks for more than the payment amount minus its pending and processed refunds."""

    def __init__(self) -> None:
        super().__init__("Refund amount exceeds available amount", field="amount")


class FullyRefunded(RefundExceedsAvailable):
    """Raised when a refund without an amount finds nothing left to refund."""

    def __init__(self) -> None:
        DomainError.__init__(self, "Payment has been fully refunded already", field="amount")


class SessionRefused(Unauthenticated):
    """Raised when a dashboard sign-in fails, or a session cookie is unknown, expired or lacks its CSRF token."""

    def __init__(self, description: str) -> None:
        DomainError.__init__(self, description)
