"""Background tasks (django.tasks). They receive keys, never model instances."""

from django.core.mail import send_mail
from django.tasks import task
from django.utils import timezone

from .models import Alert


@task
def send_alert_email(dedupe_key: str) -> bool:
    """E-mail an alert to the account owner once; a rerun sends nothing."""
    alert = (
        Alert.objects.select_related("account").filter(dedupe_key=dedupe_key).first()
    )
    if alert is None or alert.emailed_at is not None:
        return False
    recipient = alert.account.owner_email
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
