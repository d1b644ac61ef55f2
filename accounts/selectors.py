from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from accounts.models import User


def user_locked_until(*, email: str) -> datetime | None:
    """When the account with this login stops refusing passwords, or None if it is not locked now."""
    email = User.objects.normalize_email(email or "").lower()
    locked_until = User.objects.filter(email=email).values_list("locked_until", flat=True).first()
    if locked_until is not None and locked_until > timezone.now():
        return locked_until
    return None
