"""The one authentication backend. Every password login (admin, allauth, DRF session, any authenticate() call)
passes through it, so a locked account is refused on all of them."""
from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts.selectors import user_locked_until

LOCKED_UNTIL_ATTR = "gatehouse_locked_until"


class LockoutModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        login = username if username is not None else kwargs.get("email")
        if login and password is not None:
            locked_until = user_locked_until(email=login)
            if locked_until is not None:
                # Refused even with the right password. PermissionDenied stops authenticate() from asking any other
                # backend and makes it send user_login_failed, which records the attempt.
                if request is not None:
                    setattr(request, LOCKED_UNTIL_ATTR, locked_until)
                raise PermissionDenied("Account locked.")
        return super().authenticate(request, username=username, password=password, **kwargs)
