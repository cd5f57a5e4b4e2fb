"""Store errors: ``BillingError`` subclasses, so views translate them alike."""

from billing.errors import BillingError, InvalidRequest


class StoreError(BillingError):
    code = "store_error"
    status = 409


class NotOnSale(StoreError):
    code = "not_on_sale"


class AlreadyOwned(StoreError):
    code = "already_owned"


class OwnTheme(StoreError):
    code = "own_theme"


class NotLicensed(StoreError):
    code = "not_licensed"
    status = 403


class NotReviewable(StoreError):
    code = "not_reviewable"


class InvalidTheme(InvalidRequest):
    """``details`` maps form field names to messages."""

    code = "invalid_theme"
