from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """Who did what to which object. Written only through audit.services.audit_record; never edited."""

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        TOKEN = "token", "API token"
        SYSTEM = "system", "System"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=255, blank=True, default="")
    via = models.CharField(max_length=16, blank=True, default="")
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_label = models.CharField(max_length=255, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_label}"
