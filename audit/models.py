from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """Who did what to which object. Written only through audit.services.audit_record; never edited.

    Events form a hash chain: ``seq`` counts without gaps, ``prev_hash`` is the previous event's ``hash`` and
    ``hash`` is SHA-256 over the canonical JSON of this event's fields (audit.chain). An edited, inserted or deleted
    row breaks the chain, which ``manage.py audit_verify`` reports.
    """

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        TOKEN = "token", "API token"
        SYSTEM = "system", "System"

    class Via(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        CLI = "cli", "Command line"
        TASK = "task", "Background task"
        WEB = "web", "Web"
        MCP = "mcp", "MCP"

    seq = models.BigIntegerField(unique=True, null=True, editable=False)
    created_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=255, blank=True, default="")
    token_id = models.BigIntegerField(null=True, blank=True)
    via = models.CharField(max_length=16, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_label = models.CharField(max_length=255, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    security = models.BooleanField(default=False, db_index=True)
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_label}"


class AuditChainHead(models.Model):
    """The single row (pk=1) every append locks first: it serialises appends across processes and remembers the
    last sequence number and hash, so deleting the newest events is detected too."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"audit chain head #{self.seq}"


class AuditCheckpoint(models.Model):
    """Events up to ``seq`` were archived to ``archive_name`` and removed; verification resumes from ``hash``."""

    created_at = models.DateTimeField(auto_now_add=True)
    seq = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    first_seq = models.BigIntegerField()
    count = models.PositiveIntegerField()
    archive_name = models.CharField(max_length=255)
    archive_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"checkpoint through #{self.seq}"


class CapturedMessageQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> CapturedMessageQuerySet:
        """Captured payloads are security data: only holders of ``admin.security_audit`` (and superusers) read them,
        whoever owns the server or upstream; nobody changes them."""
        from teams.permissions import principal_may
        from teams.roles import ADMIN_SECURITY_AUDIT

        if principal is None or action != "view" or not principal_may(principal, ADMIN_SECURITY_AUDIT):
            return self.none()
        return self


class CapturedMessage(models.Model):
    """One MCP message between a client and the gateway, recorded because its virtual server or upstream has
    ``capture_traffic`` on (audit.capture). The payload has its secrets redacted and is clamped to a maximum size.
    The gateway↔upstream leg is not recorded: ``upstream`` says where the call went."""

    class Direction(models.TextChoices):
        CLIENT_TO_GATEWAY = "in", "client → gateway"
        GATEWAY_TO_CLIENT = "out", "gateway → client"

    created_at = models.DateTimeField(db_index=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    # A keyed digest of the session, never the session id itself (that would let a reader join the session).
    session_digest = models.CharField(max_length=32, blank=True, default="", db_index=True)
    method = models.CharField(max_length=128, db_index=True)
    name = models.CharField(max_length=512, blank=True, default="", help_text="The tool, prompt or resource URI.")
    rpc_id = models.CharField(max_length=128, blank=True, default="", verbose_name="JSON-RPC id")
    user_id = models.BigIntegerField(null=True, blank=True)
    principal_label = models.CharField(max_length=255, blank=True, default="")
    token_id = models.BigIntegerField(null=True, blank=True)
    server_slug = models.CharField(max_length=64, blank=True, default="", db_index=True)
    upstream_slug = models.CharField(max_length=40, blank=True, default="", db_index=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    request_bytes = models.PositiveIntegerField(null=True, blank=True)
    response_bytes = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    payload = models.TextField(blank=True, default="")
    payload_truncated = models.BooleanField(default=False)

    objects = CapturedMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.get_direction_display()} {self.method} {self.name}"
