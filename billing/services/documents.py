"""Issue invoices and credit notes; keep an account's billing details.

A sale first asks ``billing.documents.quote_charge`` what the buyer pays
(net lines, the rate at that instant, the gross to collect); the charge is
written for the gross and collected; only then, as the last step of the
same transaction,
``issue_invoice`` takes the next number. The number's row stays locked
until commit, so concurrent issuers queue for that short step only (never
while a payment gateway answers) and a rolled-back sale leaves no gap.
"""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_countries import countries

from accounts.models import User

from ..documents import ChargeQuote, Party, seller_party
from ..errors import InvalidRequest, PermissionDenied
from ..models import (
    Account,
    AuditEntry,
    BillingDetails,
    ChargeRecord,
    CreditNote,
    CreditNoteLine,
    DocumentSequence,
    Invoice,
    InvoiceLine,
)
from ..permissions import check_staff_power
from ..selectors import account_email, can_manage_account
from ..tax import line_from_gross, normalise_vat_id
from ..units import split_by_weights
from .audit import record_audit

CHANGE_BILLING_DETAILS = "billing.change_billingdetails"


@dataclass(frozen=True, slots=True)
class DocumentNumber:
    number: str
    issued_at: datetime


def _next_number(series: str, *, at: datetime) -> DocumentNumber:
    """Take the next number of ``series`` for ``at``'s year, in one statement.

    The upsert locks the year's row until commit: the next issuer waits
    here, so no two documents share a number, and a rollback gives the
    number back, so none is skipped. The issue instant never goes back in
    a series: a document numbered after another is dated no earlier (one
    whose sale began before the previous document's is dated with it).
    """
    year = at.astimezone(UTC).year
    table = DocumentSequence._meta.db_table
    latest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (series, year, last_number, last_issued_at)"
            " VALUES (%s, %s, 1, %s) ON CONFLICT (series, year) DO UPDATE"
            f" SET last_number = {table}.last_number + 1,"
            f" last_issued_at = {latest}({table}.last_issued_at,"
            " excluded.last_issued_at)"
            " RETURNING last_number, last_issued_at",
            [series, year, connection.ops.adapt_datetimefield_value(at)],
        )
        number, issued_at = cursor.fetchone()
    if isinstance(issued_at, str):  # SQLite hands back its stored text
        issued_at = datetime.fromisoformat(issued_at).replace(tzinfo=UTC)
    return DocumentNumber(
        number=f"{series}-{year}-{number:06d}", issued_at=issued_at.astimezone(UTC)
    )


PARTY_FIELDS = (
    "seller_name",
    "seller_address",
    "seller_country",
    "seller_vat_id",
    "seller_bank",
    "buyer_name",
    "buyer_address",
    "buyer_country",
    "buyer_vat_id",
    "buyer_email",
)


def _parties(buyer: Party) -> dict[str, object]:
    """The two parties as they are now, for a document's columns."""
    seller = seller_party()
    return {
        "seller_name": seller.name,
        "seller_address": seller.address,
        "seller_country": seller.country,
        "seller_vat_id": seller.vat_id,
        "seller_bank": seller.bank,
        "buyer_name": buyer.name[:200],
        "buyer_address": buyer.address,
        "buyer_country": buyer.country,
        "buyer_vat_id": buyer.vat_id,
        "buyer_email": buyer.email,
    }


def issue_invoice(
    *,
    charge: ChargeRecord,
    quote: ChargeQuote,
    period_start: date,
    period_end: date,
    at: datetime,
) -> Invoice:
    """Issue the charge's invoice: call last in the transaction that wrote it.

    The charge's gross must be the quote's. A declined charge gets none;
    the e-mail with the PDF is queued with the write.
    """
    if charge.status == ChargeRecord.Status.FAILED:
        raise InvalidRequest("A declined charge gets no invoice.")
    if charge.amount_cents != quote.gross_cents:
        raise InvalidRequest("The charge and its invoice disagree on the amount.")
    # Everything else is read first: the number's lock is held to commit.
    parties = _parties(
        replace(quote.buyer, email=account_email(account=charge.account))
    )
    taken = _next_number(DocumentSequence.Series.INVOICE, at=at)
    invoice = Invoice.objects.create(
        number=taken.number,
        account_id=charge.account_id,
        charge=charge,
        issued_at=taken.issued_at,
        currency=charge.currency,
        period_start=period_start,
        period_end=period_end,
        reverse_charge=quote.treatment.reverse_charge,
        note=quote.treatment.note,
        net_cents=quote.net_cents,
        tax_cents=quote.tax_cents,
        gross_cents=quote.gross_cents,
        **parties,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                position=position,
                description=q.line.description[:255],
                quantity=q.line.quantity,
                unit_net_cents=q.line.unit_net_cents,
                net_cents=q.amounts.net_cents,
                tax_rate_percent=quote.treatment.rate_percent,
                tax_cents=q.amounts.tax_cents,
                gross_cents=q.amounts.gross_cents,
            )
            for position, q in enumerate(quote.lines, start=1)
        ]
    )
    if settings.BILLING_EMAIL_INVOICES and invoice.buyer_email:
        from ..tasks import email_invoice, enqueue_with_write

        enqueue_with_write(email_invoice, invoice_id=invoice.pk)
    return invoice


def issue_credit_note(
    *,
    charge: ChargeRecord,
    credited: ChargeRecord,
    gross_cents: int,
    reason: str,
    at: datetime,
) -> CreditNote | None:
    """Credit ``gross_cents`` of ``credited``'s invoice, documenting ``charge``.

    ``charge`` is the refund's own ledger row, or the voided charge itself.
    The amount is shared across the invoice's lines in proportion to their
    gross and split back into net and tax at each line's rate, so a partial
    refund credits tax in the same proportion. A charge issued before
    invoices existed has none to credit: None.
    """
    invoice = Invoice.objects.filter(charge=credited).first()
    if invoice is None:
        return None
    lines = list(invoice.lines.all())
    shares = split_by_weights(
        total_cents=gross_cents, weights=[line.gross_cents for line in lines]
    )
    parts = [
        (line, line_from_gross(gross_cents=share, rate_percent=line.tax_rate_percent))
        for line, share in zip(lines, shares, strict=True)
    ]
    taken = _next_number(DocumentSequence.Series.CREDIT_NOTE, at=at)
    note = CreditNote.objects.create(
        number=taken.number,
        account_id=invoice.account_id,
        invoice=invoice,
        charge=charge,
        issued_at=taken.issued_at,
        currency=invoice.currency,
        reason=reason[:255],
        reverse_charge=invoice.reverse_charge,
        net_cents=sum(amounts.net_cents for _, amounts in parts),
        tax_cents=sum(amounts.tax_cents for _, amounts in parts),
        gross_cents=gross_cents,
        **{field: getattr(invoice, field) for field in PARTY_FIELDS},
    )
    CreditNoteLine.objects.bulk_create(
        [
            CreditNoteLine(
                credit_note=note,
                position=line.position,
                description=line.description,
                # A line credited whole keeps its quantity; a part is one sum.
                **(
                    {"quantity": line.quantity, "unit_net_cents": line.unit_net_cents}
                    if amounts.gross_cents == line.gross_cents
                    else {"quantity": 1, "unit_net_cents": amounts.net_cents}
                ),
                net_cents=amounts.net_cents,
                tax_rate_percent=line.tax_rate_percent,
                tax_cents=amounts.tax_cents,
                gross_cents=amounts.gross_cents,
            )
            for line, amounts in parts
        ]
    )
    return note


def save_billing_details(
    *,
    account: Account,
    actor: User,
    legal_name: str,
    address: str = "",
    country: str = "",
    vat_id: str = "",
    staff: bool = False,
) -> BillingDetails:
    """Set who the account's documents are addressed to, from now on.

    Owners and admins of the account edit them; staff (``staff=True``,
    from admin) need ``billing.change_billingdetails`` and are on record.
    A VAT id must have the format its country issues.
    Documents already issued keep the details they were issued with.
    """
    if not staff and not can_manage_account(user=actor, account=account):
        raise PermissionDenied(
            "Only the account's owners and admins can change its billing details."
        )
    legal_name = legal_name.strip()
    if not legal_name:
        raise InvalidRequest("Give the legal name your documents are addressed to.")
    country = country.strip().upper()
    if country and country not in countries:
        raise InvalidRequest(f"{country} is not an ISO 3166-1 country code.")
    try:
        vat_id = normalise_vat_id(vat_id, country=country)
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
    if staff:
        check_staff_power(actor=actor, permission=CHANGE_BILLING_DETAILS)
    now = timezone.now()
    fields = {
        "legal_name": legal_name[:200],
        "address": address.strip(),
        "country": country,
        "vat_id": vat_id,
    }
    with transaction.atomic():
        before = BillingDetails.objects.filter(account=account).values(*fields).first()
        details, _ = BillingDetails.objects.update_or_create(
            account=account, defaults={**fields, "updated_at": now}
        )
        if staff:  # the buyer's own edits are theirs; a staff edit is on record
            record_audit(
                action=AuditEntry.Action.BILLING_DETAILS_CHANGED,
                actor=actor,
                target=details,
                at=now,
                account=account,
                before=before,
                after=fields,
            )
    return details
