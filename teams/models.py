from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.display import validate_display_line, validate_display_paragraph


class TeamQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> TeamQuerySet:
        """Members see their teams, platform admins and viewers see all; changing needs teams.manage there."""
        from teams.permissions import CHANGE, holds_in_team
        from teams.roles import TEAMS_MANAGE

        if principal is None:
            return self.none()
        unclaimed = principal.team_scope is None
        if action == CHANGE:
            if unclaimed and principal.is_superuser and holds_in_team(principal, TEAMS_MANAGE, 0):
                return self
            return self.filter(pk__in=[
                team_id for team_id in principal.team_ids if holds_in_team(principal, TEAMS_MANAGE, team_id)
            ])
        if unclaimed and principal.platform_permissions:
            return self
        return self.filter(pk__in=principal.team_ids if unclaimed else principal.team_ids & principal.team_scope)


class Team(models.Model):
    name = models.CharField(max_length=100, validators=[validate_display_line])
    slug = models.SlugField(max_length=64, unique=True)
    # Set for a user's personal team: it cannot be left, shared or deleted while the user exists.
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_team"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.personal_for_id is not None


class RoleQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> RoleQuerySet:
        """Everyone signed in may read roles; only admin.role_management changes them."""
        from teams.permissions import VIEW, principal_may
        from teams.roles import ADMIN_ROLE_MANAGEMENT

        if principal is None:
            return self.none()
        return self if action == VIEW or principal_may(principal, ADMIN_ROLE_MANAGEMENT) else self.none()


class Role(models.Model):
    """A custom team role: a named set of permissions (teams.roles.PERMISSIONS) an admin edits."""

    name = models.CharField(max_length=64, unique=True, validators=[validate_display_line])
    description = models.TextField(blank=True, default="", validators=[validate_display_paragraph])
    permissions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RoleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> MembershipQuerySet:
        return self.filter(team__in=Team.objects.visible_to(principal, action))


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        DEVELOPER = "developer", "Developer"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    # When set, the custom role's permissions replace those of ``role`` (which still decides ownership).
    custom_role = models.ForeignKey(
        "teams.Role", null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class PlatformRole(models.Model):
    """A platform-wide role. ``is_superuser`` users are platform admins without a row."""

    class Name(models.TextChoices):
        ADMIN = "admin", "Platform admin"
        VIEWER = "viewer", "Platform viewer"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_role")
    role = models.CharField(max_length=16, choices=Name.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.get_role_display()}"


class InvitationQuerySet(models.QuerySet):
    def visible_to(self, principal, action: str = "view") -> InvitationQuerySet:
        """Invitations are seen and managed by those who manage the team."""
        return self.filter(team__in=Team.objects.visible_to(principal, "change"))


class Invitation(models.Model):
    """An invitation to a team. Only a SHA-256 of its random token is stored; the token is in the link, once."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.DEVELOPER)
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()
