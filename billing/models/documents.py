"""Documents a business files: invoices, credit notes, statements; and tax.

An invoice is issued for every charge that was collected or is awaiting
payment (never a declined one) and numbered gaplessly per calendar year and
series (``INV-2026-000123``, ``CN-2026-000007``) from ``DocumentSequence``,
whose row is locked only in the last step of the issuing transaction. Issued
documents copy the seller's and buyer's details as they were, and are
immutable in the database itself (migration 0013): a correction is a credit
note, never an edit. Statements of account are written once per account and
month by ``issue_statements``.
"""

from django.db import models
from django.utils import timezone
from django_countries.fields import CountryField

from .accounts import Account
from .charges import ChargeRecord


class BillingDetails(models.Model):
    """Who the account's documents are addressed to (optional, editable).

    Documents copy these at issue, so a later edit changes only documents
    issued later.
    """

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="billing_details"
    )
    legal_name = models.CharField(max_length=200)
    address = models.TextField(blank=True, help_text="Street, postcode and city.")
    country = CountryField(
        blank=True, help_text="Without one, the seller's country rate applies."
    )
    vat_id = models.CharField(
        "VAT id", max_length=20, blank=True, help_text="With its country prefix."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "billing details"

    def __str__(self) -> str:
        return self.legal_name


class TaxRate(models.Model):
    """A country's rate from a day on; the latest start on or before an
    invoice's date applies. A country without a rate is taxed at 0%."""

    country = CountryField()
    rate_percent = models.DecimalField(max_digits=5, decimal_places=2)
    valid_from = models.DateField()
    name = models.CharField(max_length=40, default="VAT")

    class Meta:
        ordering = ["country", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "valid_from"], name="tax_rate_one_per_start"
            ),
            models.CheckConstraint(
                condition=models.Q(rate_percent__gte=0, rate_percent__lt=100),
                name="tax_rate_between_0_and_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.name} {self.rate_percent}% from {self.valid_from}"


class DocumentSequence(models.Model):
    """The last number used in one series and year; locked by the issuer."""

    class Series(models.TextChoices):
        INVOICE = "INV", "Invoice"
        CREDIT_NOTE = "CN", "Credit note"

    series = models.CharField(max_length=3, choices=Series.choices)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)
    # The latest issue instant in the series: numbers and dates go up together.
    last_issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["series", "year"], name="document_sequence_per_year"
            )
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class IssuedDocument(models.Model):
    """What invoices and credit notes share: number, parties, totals."""

    number = models.CharField(max_length=20, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    seller_name = models.CharField(max_length=200)
    seller_address = models.TextField(blank=True)
    seller_country = models.CharField(max_length=2, blank=True)
    seller_vat_id = models.CharField(max_length=20, blank=True)
    seller_bank = models.CharField(max_length=200, blank=True)
    buyer_name = models.CharField(max_length=200)
    buyer_address = models.TextField(blank=True)
    buyer_country = models.CharField(max_length=2, blank=True)
    buyer_vat_id = models.CharField(max_length=20, blank=True)
    buyer_email = models.EmailField(blank=True)
    reverse_charge = models.BooleanField(default=False)
    net_cents = models.BigIntegerField()
    tax_cents = models.BigIntegerField()
    gross_cents = models.BigIntegerField()

    class Meta:
        abstract = True
        ordering = ["-issued_at", "-pk"]

    def __str__(self) -> str:
        return self.number


class Invoice(IssuedDocument):
    charge = models.OneToOneField(
        ChargeRecord, on_delete=models.PROTECT, related_name="invoice"
    )
    period_start = models.DateField(help_text="First day of what is billed.")
    period_end = models.DateField(help_text="Last day of what is billed.")
    note = models.CharField(max_length=255, blank=True)
    # The only column that changes after issue (the database guard allows
    # it): when the PDF went to the account's owner.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta(IssuedDocument.Meta):
        indexes = [models.Index(fields=["account", "-issued_at"])]


class CreditNote(IssuedDocument):
    """A refund or a voided charge, credited against its invoice."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="credit_notes"
    )
    # The refund's own (negative) ledger row, or the voided charge itself.
    charge = models.OneToOneField(
        ChargeRecord, on_delete=models.PROTECT, related_name="credit_note"
    )
    reason = models.CharField(max_length=255, blank=True)

    class Meta(IssuedDocument.Meta):
        indexes = [models.Index(fields=["account", "-issued_at"])]


class DocumentLine(models.Model):
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(default=1)
    unit_net_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField()
    tax_rate_percent = models.DecimalField(max_digits=5, decimal_places=2)
    tax_cents = models.BigIntegerField()
    gross_cents = models.BigIntegerField()

    class Meta:
        abstract = True
        ordering = ["position"]

    def __str__(self) -> str:
        return self.description


class InvoiceLine(DocumentLine):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")

    class Meta(DocumentLine.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "position"], name="invoice_line_position"
            )
        ]


class CreditNoteLine(DocumentLine):
    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.PROTECT, related_name="lines"
    )

    class Meta(DocumentLine.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["credit_note", "position"], name="credit_note_line_position"
            )
        ]


class Statement(models.Model):
    """One account's month: what it owed at the start and end, and why.

    Amounts due rise with charges issued and refunds paid out, and fall with
    payments received and credit notes. The closing amount due equals the
    account's outstanding balance at the month's end.
    """

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="statements"
    )
    period_start = models.DateField()
    issued_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    # The parties as they were at issue, as on invoices.
    seller_name = models.CharField(max_length=200, blank=True)
    seller_address = models.TextField(blank=True)
    seller_country = models.CharField(max_length=2, blank=True)
    seller_vat_id = models.CharField(max_length=20, blank=True)
    seller_bank = models.CharField(max_length=200, blank=True)
    buyer_name = models.CharField(max_length=200)
    buyer_address = models.TextField(blank=True)
    buyer_country = models.CharField(max_length=2, blank=True)
    buyer_vat_id = models.CharField(max_length=20, blank=True)
    opening_due_cents = models.BigIntegerField()
    charges_cents = models.BigIntegerField()
    payments_cents = models.BigIntegerField()
    refunds_cents = models.BigIntegerField()
    credits_cents = models.BigIntegerField()
    closing_due_cents = models.BigIntegerField()

    class Meta:
        ordering = ["-period_start", "account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period_start"], name="statement_one_per_month"
            )
        ]
        indexes = [models.Index(fields=["period_start"])]

    def __str__(self) -> str:
        return f"Statement {self.period_start:%Y-%m} · {self.account}"


class StatementLine(models.Model):
    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        PAYMENT = "payment", "Payment received"
        REFUND = "refund", "Refund paid out"
        CREDIT_NOTE = "credit_note", "Credit note"

    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, related_name="lines"
    )
    position = models.PositiveIntegerField()
    at = models.DateTimeField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    description = models.CharField(max_length=255)
    reference = models.CharField(max_length=40, blank=True)
    # Signed as the amount due moves: + charges and refunds paid out,
    # - payments and credit notes.
    amount_cents = models.BigIntegerField()
    balance_cents = models.BigIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "position"], name="statement_line_position"
            )
        ]

    def __str__(self) -> str:
        return self.description
