from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

_SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


class StaffMFAMiddleware:
    """With MFA_REQUIRED_FOR_STAFF, a staff member without a second factor is sent to enrol one before any admin
    page opens. Their login already went through allauth, which asks for the second factor once enrolled."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = "/" + settings.ADMIN_URL
        self.open_paths = (self.admin_prefix + "login/", self.admin_prefix + "logout/")

    def __call__(self, request):
        if (
            settings.MFA_REQUIRED_FOR_STAFF
            and request.path.startswith(self.admin_prefix)
            and not request.path.startswith(self.open_paths)
            and request.user.is_authenticated
            and request.user.is_staff
            and not is_mfa_enabled(request.user, types=_SECOND_FACTORS)
        ):
            messages.warning(request, "Set up two-factor authentication before using the administration.")
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
