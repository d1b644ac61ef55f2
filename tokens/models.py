from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> ApiTokenQuerySet:
        """Tokens belong to their user; platform admins see all."""
        if principal is None:
            return self.none()
        return self if principal.is_superuser else self.filter(user_id=principal.user_id)


class ApiToken(models.Model):
    """A bearer token. Only an 8-character lookup prefix and an HMAC of the whole token are stored."""

    PREFIX = "gth_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=8, unique=True)
    digest = models.CharField(max_length=64)
    pepper_id = models.CharField(max_length=32)
    # Restricted tokens reach only ``servers``; deleting those servers must never widen a token to everything.
    restricted_to_servers = models.BooleanField(default=False)
    servers = models.ManyToManyField("catalog.VirtualServer", blank=True, related_name="tokens")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.PREFIX}{self.lookup}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())
