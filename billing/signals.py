"""Every user and company gets a billing account at creation, whatever creates it."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Company, User

from .services.accounts import create_company_account, create_personal_account


@receiver(post_save, sender=User, dispatch_uid="billing_user_account")
def user_created(
    sender: type, instance: User, created: bool, raw: bool = False, **kwargs: object
) -> None:
    if created and not raw:
        create_personal_account(user=instance)


@receiver(post_save, sender=Company, dispatch_uid="billing_company_account")
def company_created(
    sender: type, instance: Company, created: bool, raw: bool = False, **kwargs: object
) -> None:
    if created and not raw:
        create_company_account(company=instance)
