from __future__ import annotations

from allauth.account.forms import LoginForm as AllauthLoginForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.backends import LOCKED_UNTIL_ATTR


def locked_message(locked_until) -> str:
    minutes = max(1, round((locked_until - timezone.now()).total_seconds() / 60))
    return (
        "This account is locked after too many failed logins. It unlocks by itself in about "
        f"{minutes} minute{'s' if minutes != 1 else ''}, or an administrator can unlock it now."
    )


class LoginForm(AllauthLoginForm):
    """allauth's login form, saying "locked" rather than "wrong password" when the account is locked."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            locked_until = getattr(self.request, LOCKED_UNTIL_ATTR, None)
            if locked_until is not None:
                raise ValidationError(locked_message(locked_until), code="account_locked") from None
            raise
