"""Reads: limits, states, overage estimates, balances, listings.

One module per concern; this package re-exports their public names, so
callers import from ``billing.selectors``. Quota states come from
``quotas.quota_statuses`` (set-based: a fixed number of queries for any
number of accounts); the arithmetic lives in ``billing.quotas``.
"""

from ..db import any_of  # noqa: F401
from ..quotas.rules import (  # noqa: F401
    State,
    counter_overage_cents,
    storage_overage_cents,
    usage_state,
)
from ..quotas.status import (  # noqa: F401
    QuotaStatus,
    consent_covers,
    status_from_facts,
)
from .access import (  # noqa: F401
    account_email,
    api_key_hash,
    can_manage_account,
    find_live_api_key,
    get_account,
    get_company_account,
    list_account_managers,
    list_accounts_for_user,
)
from .alerts import (  # noqa: F401
    current_alerts,
    get_alert_for_account,
    list_open_alerts,
)
from .authorize import (  # noqa: F401
    Authorization,
    authorize_from_facts,
    authorize_usage,
)
from .catalogue import (  # noqa: F401
    get_meter,
    get_pack,
    list_catalogue,
    list_meters,
    meter_applies,
    pack_applies,
    pack_counterparts,
)
from .history import (  # noqa: F401
    UsagePoint,
    UsageSeries,
    usage_history,
)
from .job_slots import (  # noqa: F401
    JobSlotOverview,
    job_slot_limit,
    job_slot_overview,
)
from .ledger import (  # noqa: F401
    PURCHASE_CHARGE_KINDS,
    ChargeDocument,
    OverageBasis,
    PayPreview,
    SettledCharges,
    charge_document,
    get_charge_for_account,
    list_charges,
    outstanding_balance_cents,
    pay_preview,
    receipt_purchase_id,
    settled_charges,
)
from .purchases import (  # noqa: F401
    REMINDER_DAYS,
    REMINDERS,
    RENEWAL_WINDOW,
    ChargePreview,
    LimitChange,
    PurchasePreview,
    RenewalPreview,
    RenewalTerms,
    SentReminder,
    charge_preview,
    expires_soon,
    find_purchase_by_token,
    get_purchase_for_account,
    list_active_packs,
    list_purchases,
    purchase_preview,
    purchase_state,
    reminder_reference,
    renewal_preview,
    renewal_refusal,
    renewal_start,
    renewal_terms,
    sent_reminders,
)
from .quotas import (  # noqa: F401
    account_quotas,
    quota_status,
    quota_statuses,
)
