from .accounts import Account
from .alerts import Alert
from .api_keys import ApiKey
from .audit import AuditEntry
from .charges import ChargeRecord
from .consents import OverageConsent
from .documents import (
    BillingDetails,
    CreditNote,
    CreditNoteLine,
    DocumentSequence,
    Invoice,
    InvoiceLine,
    Statement,
    StatementLine,
    TaxRate,
)
from .job_slots import JobSlot
from .meters import Meter, Plan, PlanAllowance
from .packs import Grant, GrantBurn, Pack, PackAllowance, Purchase
from .rollups import UsageRollup
from .usage import ClosedPeriod, GaugeLevel, UsageCounter, UsageEvent, UsageSnapshot
from .webhooks import (
    EventType,
    QuotaNotice,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "BillingDetails",
    "CreditNote",
    "CreditNoteLine",
    "DocumentSequence",
    "Invoice",
    "InvoiceLine",
    "Statement",
    "StatementLine",
    "TaxRate",
    "Account",
    "Alert",
    "ApiKey",
    "AuditEntry",
    "ChargeRecord",
    "ClosedPeriod",
    "GaugeLevel",
    "Grant",
    "GrantBurn",
    "JobSlot",
    "Meter",
    "OverageConsent",
    "Pack",
    "PackAllowance",
    "Plan",
    "PlanAllowance",
    "Purchase",
    "UsageCounter",
    "UsageEvent",
    "UsageRollup",
    "UsageSnapshot",
    "EventType",
    "QuotaNotice",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
