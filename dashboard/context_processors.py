from django.conf import settings
from django.http import HttpRequest


def billing(request: HttpRequest) -> dict[str, str]:
    return {"currency": settings.BILLING_CURRENCY}
