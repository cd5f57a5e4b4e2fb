"""API keys for the platform's services (HTTP API v1).

Only a sha256 of the key is stored: the raw key is shown once when it is
created and cannot be recovered. The first characters are kept as a prefix
so staff can tell keys apart. Revoking is a timestamp, checked on every
request (no cache), so a revoked key stops working at once.
"""

import hashlib

from django.db import models
from django.utils import timezone


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def live(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(raw_key: str) -> str:
        """sha256 is enough: keys carry 256 random bits, so no salt, no slow hash."""
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None
