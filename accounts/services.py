from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TextIO

from allauth.account.authentication import get_authentication_records
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import AuthEvent, SsoGroupRule, User
from accounts.request_context import client_ip, current_request, user_agent
from audit.services import audit_record
from config.env import env_secret
from teams.models import Membership


@transaction.atomic
def platform_admin_ensure(*, email: str, password: str | None) -> tuple[User, bool]:
    """Create the platform admin if no user has that email. Never changes an existing user's password."""
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email=email).first()
    if user is not None:
        if not (user.is_superuser and user.is_staff):
            user.is_superuser = user.is_staff = True
            user.save(update_fields=["is_superuser", "is_staff"])
        return user, False
    return User.objects.create_superuser(email=email, password=password), True


def platform_admin_ensure_from_env(*, stdout: TextIO | None = None) -> User | None:
    """Run after migrate: PLATFORM_ADMIN_EMAIL / PLATFORM_ADMIN_PASSWORD make the admin idempotently."""
    email = settings.PLATFORM_ADMIN_EMAIL
    password = env_secret("PLATFORM_ADMIN_PASSWORD")
    if not email or not password:
        return None
    user, created = platform_admin_ensure(email=email, password=password)
    if created and stdout is not None:
        stdout.write(f"Created platform admin {user.email}.\n")
    return user


def platform_admin_ensure_local(*, email: str) -> tuple[User, str | None]:
    """Local mode without configured credentials: make an admin with a random password, returned once."""
    if User.objects.filter(is_superuser=True).exists():
        return User.objects.filter(is_superuser=True).order_by("id").first(), None
    password = secrets.token_urlsafe(18)
    user, _ = platform_admin_ensure(email=email, password=password)
    return user, password


def platform_admin_get() -> User:
    """The platform admin: the configured one, else the oldest superuser."""
    admins = User.objects.filter(is_superuser=True, is_active=True)
    if settings.PLATFORM_ADMIN_EMAIL:
        configured = admins.filter(email=settings.PLATFORM_ADMIN_EMAIL.lower()).first()
        if configured is not None:
            return configured
    admin = admins.order_by("id").first()
    if admin is None:
        raise User.DoesNotExist("No platform admin exists yet; run migrate with PLATFORM_ADMIN_EMAIL set.")
    return admin


def user_get_by_email(*, email: str) -> User:
    try:
        return User.objects.get(email=User.objects.normalize_email(email).lower())
    except User.DoesNotExist:
        raise User.DoesNotExist(f"No user with email {email}.") from None


# --- authentication events and lockout ---------------------------------------------------------------------------

def auth_event_record(
    *, kind: str, request: HttpRequest | None = None, user: User | None = None, email: str = "", detail: str = ""
) -> AuthEvent:
    request = request if request is not None else current_request()
    if not email and user is not None:
        email = user.email
    return AuthEvent.objects.create(
        kind=kind, user=user, email=email[:254], ip=client_ip(request), user_agent=user_agent(request),
        detail=detail[:200],
    )


@transaction.atomic
def login_failure_register(*, email: str, request: HttpRequest | None) -> datetime | None:
    """Record a refused login. Counts it against the account, locking the account when the count reaches
    MAX_FAILED_LOGIN_ATTEMPTS within FAILED_LOGIN_WINDOW_MINUTES. Returns until when the account is locked, if it is."""
    email = User.objects.normalize_email(email or "").lower()
    user = User.objects.select_for_update().filter(email=email).first() if email else None
    if user is None:
        auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, request=request, email=email, detail="unknown account")
        return None
    now = timezone.now()
    if user.locked_until is not None and user.locked_until > now:
        # Attempts during a lock neither count nor extend it: the lock must end by itself.
        auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, request=request, user=user, detail="account locked")
        return user.locked_until
    window = timedelta(minutes=settings.FAILED_LOGIN_WINDOW_MINUTES)
    if user.last_failed_login_at is None or now - user.last_failed_login_at > window:
        user.failed_login_count = 0
    user.failed_login_count += 1
    user.last_failed_login_at = now
    auth_event_record(kind=AuthEvent.Kind.LOGIN_FAILED, request=request, user=user, detail="wrong password")
    if user.failed_login_count >= settings.MAX_FAILED_LOGIN_ATTEMPTS:
        user.locked_until = now + timedelta(minutes=settings.ACCOUNT_LOCKOUT_DURATION_MINUTES)
        user.failed_login_count = 0
        auth_event_record(
            kind=AuthEvent.Kind.LOCKOUT, request=request, user=user,
            detail=f"locked until {user.locked_until:%Y-%m-%d %H:%M:%S} UTC",
        )
    user.save(update_fields=["failed_login_count", "last_failed_login_at", "locked_until"])
    return user.locked_until if user.locked_until and user.locked_until > now else None


@transaction.atomic
def login_success_register(*, user: User, request: HttpRequest | None) -> None:
    if user.failed_login_count or user.last_failed_login_at:
        User.objects.filter(pk=user.pk).update(failed_login_count=0, last_failed_login_at=None)
    auth_event_record(kind=AuthEvent.Kind.LOGIN, request=request, user=user, detail=_login_methods(request, user))


def _login_methods(request: HttpRequest | None, user: User) -> str:
    """How this session proved who it is, from allauth's records: "password+mfa:totp", "socialaccount:keycloak"."""
    if request is None or not hasattr(request, "session"):
        return ""
    methods = []
    for record in get_authentication_records(request, user):
        method = record.get("method", "")
        qualifier = record.get("provider") or record.get("type") or ""
        methods.append(f"{method}:{qualifier}" if qualifier else method)
    return "+".join(methods)


@transaction.atomic
def user_unlock(*, user: User, actor: User | None) -> None:
    User.objects.filter(pk=user.pk).update(locked_until=None, failed_login_count=0, last_failed_login_at=None)
    audit_record("accounts.user.unlock", actor=actor, via="admin" if actor is not None else "command", target=user)


# --- SSO ---------------------------------------------------------------------------------------------------------

def sso_email_allowed(*, email: str) -> bool:
    allowed = settings.SSO_ALLOWED_EMAIL_DOMAINS
    if not allowed:
        return True
    domain = (email or "").rpartition("@")[2].lower()
    return bool(domain) and domain in allowed


def sso_claims(extra_data: dict) -> dict:
    """The claims an IdP sent: OpenID Connect keeps the ID token and user info apart (user info wins); OAuth
    providers keep their profile flat."""
    if isinstance(extra_data.get("userinfo"), dict) or isinstance(extra_data.get("id_token"), dict):
        return {**(extra_data.get("id_token") or {}), **(extra_data.get("userinfo") or {})}
    return extra_data


def _claim_values(value) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {str(item) for item in value}
    return {str(value)}


@transaction.atomic
def sso_group_rules_apply(*, user: User, provider: str, claims: dict) -> dict[int, str]:
    """Give the user, in each team a matching rule names, the highest role those rules grant. The rules are the
    authority for the teams they name: a role granted by hand there is replaced. Teams no rule names are left alone,
    and a group that disappears from the IdP removes nothing (an admin removes members)."""
    rank = {role: position for position, role in enumerate(Membership.Role.values)}
    granted: dict[int, str] = {}
    for rule in SsoGroupRule.objects.filter(provider=provider):
        if rule.value in _claim_values(claims.get(rule.claim)):
            current = granted.get(rule.team_id)
            if current is None or rank[rule.role] < rank[current]:
                granted[rule.team_id] = rule.role
    for team_id, role in granted.items():
        membership, created = Membership.objects.select_for_update().get_or_create(
            user=user, team_id=team_id, defaults={"role": role}
        )
        if not created and membership.role == role:
            continue
        before = None if created else membership.role
        if not created:
            membership.role = role
            membership.save(update_fields=["role"])
        audit_record(
            "teams.membership.sso_mapped", actor=user, via=f"sso:{provider}", target=membership,
            data={"team_id": team_id, "role": role, "previous_role": before},
        )
    return granted


@transaction.atomic
def sso_group_rule_save(*, rule: SsoGroupRule, actor: User | None) -> SsoGroupRule:
    created = rule.pk is None
    rule.save()
    audit_record(
        "accounts.sso_group_rule.create" if created else "accounts.sso_group_rule.update", actor=actor, via="admin",
        target=rule, data={"provider": rule.provider, "claim": rule.claim, "value": rule.value,
                           "team_id": rule.team_id, "role": rule.role},
    )
    return rule


@transaction.atomic
def sso_group_rule_delete(*, rule: SsoGroupRule, actor: User | None) -> None:
    audit_record("accounts.sso_group_rule.delete", actor=actor, via="admin", target=rule)
    rule.delete()


# --- admin changes -----------------------------------------------------------------------------------------------

def admin_change_record(*, request: HttpRequest, action: str, target, changes: dict) -> None:
    """One audit event per row the admin added, changed or deleted: who, from where, and what changed (secrets
    already masked by the caller; audit_record masks secret-looking keys once more)."""
    audit_record(
        f"admin.{action}", actor=request.user, via="admin", target=target,
        data={"ip": client_ip(request), "user_agent": user_agent(request), "path": request.path[:200],
              "changes": changes},
    )
