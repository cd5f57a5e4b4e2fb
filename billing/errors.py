"""Domain errors. ``code`` is the API error code (see docs/api.md).

Services raise these; views and API handlers translate them and never
re-check the rule themselves.
"""

from typing import Any


class BillingError(Exception):
    code = "billing_error"
    status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthenticated(BillingError):
    """No live API key came with the request (the API answers 401)."""

    code = "unauthorized"
    status = 401


class NotFound(BillingError):
    code = "not_found"
    status = 404


class UnknownAccount(NotFound):
    code = "unknown_account"


class UnknownMeter(BillingError):
    code = "unknown_meter"
    status = 422


class InvalidRequest(BillingError):
    code = "invalid_request"
    status = 422


class UsageBatchRejected(InvalidRequest):
    """At least one event of a batch is invalid; ``details`` lists them all."""


class PermissionDenied(BillingError):
    code = "forbidden"
    status = 403


class MissingPermission(PermissionDenied):
    """A staff power the actor does not hold; ``permission`` names it."""

    def __init__(self, permission: str) -> None:
        super().__init__(
            f"This needs the {permission} permission, which your account does"
            " not have. Ask an administrator to grant it.",
            details={"permission": permission},
        )
        self.permission = permission


class QuotaExceeded(BillingError):
    code = "quota_exceeded"
    status = 409

    def __init__(self, *, meter: str, used: int, limit: int) -> None:
        super().__init__(
            f"The {meter} limit is reached ({used} of {limit} in use).",
            details={"meter": meter, "used": used, "limit": limit},
        )
        self.used = used
        self.limit = limit


class ConfirmationRequired(BillingError):
    """The change would bill more than the caller confirmed (``details``
    carries the amount, so the caller can show it and ask again)."""

    code = "confirmation_required"
    status = 409


class PaymentDeclined(BillingError):
    code = "payment_declined"
    status = 402


class PeriodNotOver(BillingError):
    code = "period_not_over"
    status = 409


class NotRenewable(BillingError):
    code = "not_renewable"
    status = 409


class AlreadyRefunded(BillingError):
    code = "already_refunded"
    status = 409


class IdempotencyConflict(BillingError):
    """A token seen before, now sent for something else: refused, never replayed."""

    code = "idempotency_conflict"
    status = 409


class UnsafeWebhookUrl(InvalidRequest):
    """A webhook endpoint's URL that the service may not call."""

    code = "unsafe_webhook_url"
