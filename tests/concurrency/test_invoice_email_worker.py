"""Invoices reach their buyer through the real task worker, as a PDF.

The sale queues the e-mail in its own transaction (the database queue);
``manage.py db_worker``, a separate process on the test database, renders
the PDF and sends it. The SMTP server is the one thing outside: the worker
writes its messages to files instead (Django's file backend).
"""

import email
import io
import subprocess
import sys
from datetime import UTC, datetime
from email import policy

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult
from pypdf import PdfReader

from billing.models import Invoice
from billing.services.packs import purchase_pack
from billing.units import GB
from tests.concurrency.test_alert_worker import DATABASE_BACKEND, ROOT
from tests.factories.billing import PackFactory, owner_of, personal_account
from tests.processes import process_env

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued_invoice_emails(settings):
    settings.TASKS = {"default": {"BACKEND": DATABASE_BACKEND, "QUEUES": ["default"]}}
    settings.BILLING_EMAIL_INVOICES = True


def run_worker(outbox, timeout: float = 120) -> None:
    env = process_env(
        TASKS_BACKEND=DATABASE_BACKEND,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
    )
    subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-reload"]
        + ["--no-startup-delay", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=timeout,
        capture_output=True,
    )


def buy(account, key):
    pack = PackFactory(lines={"storage": 10 * GB}, price_cents=2000)
    return purchase_pack(
        account=account, pack=pack, actor=owner_of(account), idempotency_key=key
    )


@pytest.mark.time_machine("2026-03-10 12:00Z")
def test_the_worker_e_mails_each_invoice_once_with_its_pdf(
    queued_invoice_emails, seeded_catalogue, pdf_renderer, tmp_path
):
    account = personal_account()
    invoice = buy(account, "worker-mail").charge.invoice
    assert DBTaskResult.objects.filter(task_path__endswith="email_invoice").exists()

    run_worker(tmp_path)
    run_worker(tmp_path)  # a second pass finds nothing left to send

    (sent,) = list(tmp_path.iterdir())
    (raw,) = [block for block in sent.read_bytes().split(b"-" * 79) if block.strip()]
    message = email.message_from_bytes(raw.lstrip(), policy=policy.default)
    assert message["To"] == account.user.email
    assert message["Subject"] == f"Invoice {invoice.number}: $20.00"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    pdf = PdfReader(io.BytesIO(attachment.get_content()))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert invoice.number in text and "20.00" in text
    invoice.refresh_from_db()
    assert invoice.emailed_at is not None


@pytest.mark.time_machine(datetime(2026, 3, 10, 12, tzinfo=UTC))
def test_a_rolled_back_sale_queues_no_invoice_e_mail(
    queued_invoice_emails, seeded_catalogue
):
    account = personal_account()
    with pytest.raises(RuntimeError), transaction.atomic():
        buy(account, "rolled-back")
        raise RuntimeError("the request died before commit")

    assert not Invoice.objects.exists()
    assert not DBTaskResult.objects.filter(task_path__endswith="email_invoice").exists()
