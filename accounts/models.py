from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from teams.models import Membership


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, email: str) -> User:
        # Emails are stored lowercase, so the login must be matched the same way.
        return self.get(email=self.normalize_email(email).lower())

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email address is the login."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to the admin site.")
    date_joined = models.DateTimeField(default=timezone.now)
    # Lockout state lives on the row so every process sees it: failures in the current window, the last one, and
    # until when the account refuses passwords.
    failed_login_count = models.PositiveIntegerField(default=0, editable=False)
    last_failed_login_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class AuthEvent(models.Model):
    """One authentication event: who, from where, with which outcome. Written by accounts.services only."""

    class Kind(models.TextChoices):
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOCKOUT = "lockout", "Account locked"
        LOGOUT = "logout", "Logout"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        REGISTERED = "registered", "Registered"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="auth_events"
    )
    # What was typed at the login prompt: kept even when no user has it, to see guessing at unknown accounts.
    email = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="authevent_user_recent")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.email or self.user_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class SsoGroupRule(models.Model):
    """At each SSO login through ``provider``, a user whose ``claim`` holds ``value`` gets ``role`` in ``team``."""

    provider = models.CharField(
        max_length=40,
        help_text="Provider id: github, google, microsoft, okta, or the id of an OpenID Connect provider "
        "(e.g. keycloak).",
    )
    claim = models.CharField(max_length=100, default="groups", help_text="Claim in the IdP's user info or ID token.")
    value = models.CharField(max_length=255, help_text="The group (or claim value) that grants the role.")
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="sso_group_rules")
    role = models.CharField(max_length=16, choices=Membership.Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "claim", "value"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "claim", "value", "team"], name="ssogrouprule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.claim} ∋ {self.value} → {self.role} in {self.team}"
