from __future__ import annotations

import secrets
from typing import TextIO

from django.conf import settings
from django.db import transaction

from accounts.models import User
from config.env import env_secret


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
