from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.display import validate_display_line


class ApiTokenQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> ApiTokenQuerySet:
        """A user's own tokens (changing them needs tokens.create), and the team tokens of teams where they hold
        tokens.manage; platform admins all."""
        from teams.permissions import CHANGE, holds, holds_in_team
        from teams.roles import TOKENS_CREATE, TOKENS_MANAGE

        if principal is None:
            return self.none()
        if principal.is_superuser and principal.team_scope is None and principal.permission_scope is None:
            return self
        managed = [team_id for team_id in principal.team_ids if holds_in_team(principal, TOKENS_MANAGE, team_id)]
        own = models.Q(user_id=principal.user_id)
        if action == CHANGE and not holds(principal, TOKENS_CREATE):
            own = models.Q(pk__in=[])
        return self.filter(own | models.Q(team_id__in=managed))


class ApiToken(models.Model):
    """A bearer token. Only an 8-character lookup prefix and an HMAC of the whole token are stored.

    Scopes only narrow what the token's user may do: servers, permissions, teams (the team claim), client IP
    ranges, time-of-day windows (UTC) and a call quota.
    """

    PREFIX = "gth_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    # A team token acts for its team: its team claim is that team, and the team's managers see and revoke it.
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, validators=[validate_display_line])
    lookup = models.CharField(max_length=8, unique=True)
    digest = models.CharField(max_length=64)
    pepper_id = models.CharField(max_length=32)
    # Restricted tokens reach only ``servers``; deleting those servers must never widen a token to everything.
    restricted_to_servers = models.BooleanField(default=False)
    servers = models.ManyToManyField("catalog.VirtualServer", blank=True, related_name="tokens")
    # None: the user's permissions; a list: only these (a subset of what the creator held at creation).
    permissions = models.JSONField(null=True, blank=True)
    # The team claim. None: no team scope (public only, unless the user is a platform admin); a list of team ids.
    teams = models.JSONField(null=True, blank=True)
    ip_ranges = models.JSONField(default=list, blank=True, help_text="CIDRs the token may be used from; empty: any.")
    time_windows = models.JSONField(
        default=list, blank=True,
        help_text='UTC windows, e.g. [{"start": "08:00", "end": "18:00", "days": [0,1,2,3,4]}] (0 = Monday).',
    )
    quota_calls = models.PositiveIntegerField(null=True, blank=True, help_text="Calls allowed per quota period.")
    quota_period_seconds = models.PositiveIntegerField(default=86400)
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


class TokenUsageQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> TokenUsageQuerySet:
        from teams.permissions import principal_may
        from teams.roles import ADMIN_SECURITY_AUDIT

        if principal is None:
            return self.none()
        if principal_may(principal, ADMIN_SECURITY_AUDIT):
            return self
        return self.filter(token__in=ApiToken.objects.visible_to(principal))


class TokenUsage(models.Model):
    """One use of a credential, allowed or blocked. Written off the request path where it matters."""

    class Outcome(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        BLOCKED = "blocked", "Blocked"
        ERROR = "error", "Error"

    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.CASCADE, related_name="usage")
    jti = models.CharField(max_length=64, blank=True, default="")
    user_id = models.BigIntegerField(null=True, blank=True)
    method = models.CharField(max_length=64)
    endpoint = models.CharField(max_length=255, blank=True, default="", help_text="API path, or MCP tool/URI/prompt.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=255, blank=True, default="")
    status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TokenUsageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["token", "-created_at"], name="tokenusage_token_time")]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} {self.outcome}"


class RevokedJti(models.Model):
    """A revoked JWT, by its jti, kept until the token would have expired anyway."""

    jti = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.jti
