"""Issue and revoke API keys. Only a sha256 of a key is ever stored."""

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ..errors import InvalidRequest
from ..models import ApiKey

KEY_PREFIX = "mk_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once; nothing can recover it later


def create_api_key(*, name: str) -> IssuedApiKey:
    """Make a new random key; store its hash and prefix, return the raw key once."""
    name = name.strip()
    if not name:
        raise InvalidRequest("An API key needs a name.")
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            name=name[:100],
            prefix=raw_key[:PREFIX_LENGTH],
            key_hash=ApiKey.hash_key(raw_key),
        )
    return IssuedApiKey(api_key=api_key, raw_key=raw_key)


def revoke_api_key(*, api_key: ApiKey) -> bool:
    """Revoke at once (one conditional UPDATE). False when already revoked."""
    return bool(
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )
