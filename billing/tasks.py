"""Background tasks (django.tasks). They receive keys, never model instances."""

from datetime import date, datetime
from functools import partial
from typing import Any

from django.core.mail import EmailMessage, send_mail
from django.db import transaction
from django.tasks import Task, task
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend

from .models import Alert


def enqueue_with_write(task: Task, **kwargs: Any) -> None:
    """Queue ``task`` as part of the current write.

    With the database queue the task row commits with the write that caused
    it: nothing runs for a rolled-back write, nothing is lost if the process
    dies after commit. Other backends (the in-process one of ``make run`` and
    the tests) run it after commit.
    """
    if isinstance(task.get_backend(), DatabaseBackend):
        task.enqueue(**kwargs)
    else:
        transaction.on_commit(partial(task.enqueue, **kwargs))


def enqueue_later(task: Task, *, at: datetime, **kwargs: Any) -> None:
    """Queue ``task`` to run from ``at``, with the current write.

    Only a queue that can defer does this (the database queue); elsewhere
    ``manage.py deliver_webhooks`` finds what is due.
    """
    if task.get_backend().supports_defer:
        task.using(run_after=at).enqueue(**kwargs)


@task
def send_alert_email(dedupe_key: str) -> bool:
    """E-mail an alert to the account owner once; a rerun sends nothing."""
    alert = (
        Alert.objects.select_related("account").filter(dedupe_key=dedupe_key).first()
    )
    if alert is None or alert.emailed_at is not None:
        return False
    from .selectors.access import account_email

    recipient = account_email(account=alert.account)
    if not recipient:
        return False
    send_mail(
        subject=f"[Billing] {alert.get_kind_display()}: {alert.account.name}",
        message=f"{alert.message}\n\nOpen your dashboard to see usage and options.",
        from_email=None,
        recipient_list=[recipient],
    )
    Alert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    return True


# Ahead of e-mails and rollups in the queue: an alert is late for everyone
# while its evaluation waits, an e-mail only for its reader.
@task(priority=10)
def evaluate_alerts(rows: list[list], at: str) -> int:
    """Raise the alerts a usage write calls for, after its commit.

    ``rows`` are the usage rows the write changed, as screened then
    (``UsageRow`` fields); ``at`` is the write's business instant, so a
    rerun or a late worker agrees with it.
    """
    from .services.alerts import UsageRow, evaluate_screened_alerts

    return len(
        evaluate_screened_alerts(
            rows=[UsageRow(*row) for row in rows], at=datetime.fromisoformat(at)
        )
    )


@task(priority=10)
def evaluate_account_quotas(account_ids: list[int], at: str) -> int:
    """Evaluate every meter of the accounts after a limit moved (``at``: the
    change's instant): state alerts and quota webhook events."""
    from .models import Account
    from .services.alerts import evaluate_usage_alerts

    accounts = list(Account.objects.select_related("plan").filter(pk__in=account_ids))
    return len(evaluate_usage_alerts(accounts=accounts, at=datetime.fromisoformat(at)))


@task
def refresh_rollups(start: str, end: str) -> None:
    """Recompute the staff rollups of [start, end] (ISO dates) in the
    background, after a late event changed those days."""
    from .services.rollups import refresh_usage_rollups

    refresh_usage_rollups(start=date.fromisoformat(start), end=date.fromisoformat(end))


@task
def email_invoice(invoice_id: int) -> bool:
    """E-mail an invoice to the account's owner with its PDF; a rerun sends nothing.

    Where the PDF library's system parts are missing, the e-mail goes
    without the attachment and says where the invoice can be read.
    """
    from .document_views import (
        invoice_document,
    )
    from .models import Invoice
    from .pdf import pdf_available, render_pdf

    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None or invoice.emailed_at is not None or not invoice.buyer_email:
        return False
    document = invoice_document(invoice=invoice)
    total = document.gross_display
    message = EmailMessage(
        subject=f"Invoice {invoice.number}: {total}",
        body=(
            f"Hello {invoice.buyer_name},\n\n"
            f"Invoice {invoice.number} of {document.issued_display} for {total}"
            f" is {'attached' if pdf_available() else 'in your dashboard'}"
            f" ({document.status_line}).\n\n{invoice.seller_name}"
        ),
        to=[invoice.buyer_email],
    )
    if pdf_available():
        message.attach(
            f"{invoice.number}.pdf",
            render_pdf(template="documents/invoice.html", context={"doc": document}),
            "application/pdf",
        )
    message.send()
    Invoice.objects.filter(pk=invoice.pk, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    return True


# Webhooks go ahead of e-mails too: the platform acts on them.
@task(priority=5)
def deliver_webhook(delivery_id: int) -> bool:
    """One attempt of a webhook delivery, if it is due and free (a lease
    decides); its retries and its lease's expiry queue this task again."""
    from .services.webhook_deliveries import deliver_webhook as deliver

    return deliver(delivery_id=delivery_id) is not None


@task
def email_staff_endpoint_disabled(endpoint_id: int) -> int:
    """Tell the staff who manage webhooks that an endpoint was disabled."""
    from accounts.models import User

    from .models import WebhookEndpoint
    from .permissions import MANAGE_WEBHOOKS

    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.disabled_at is None:
        return 0
    recipients = sorted(
        user.email
        for user in User.objects.filter(is_staff=True, is_active=True)
        if user.has_perm(MANAGE_WEBHOOKS)
    )
    if not recipients:
        return 0
    url = " ".join(endpoint.url.split())  # a header takes no line break
    send_mail(
        subject=f"[Billing] Webhook endpoint disabled: {url}",
        message=(
            f"The webhook endpoint {endpoint.url} was disabled.\n\n"
            f"{endpoint.disabled_reason}\n\nIts undelivered events are kept."
            " Enable it in the admin (Webhook endpoints) once it answers again:"
            " what it missed is sent again."
        ),
        from_email=None,
        recipient_list=recipients,
    )
    return len(recipients)
