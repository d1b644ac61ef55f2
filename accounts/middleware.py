from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

_SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


class StaffMFAMiddleware:
    """With MFA_REQUIRED_FOR_STAFF, no admin page opens for a staff member until they have a second factor and this
    session has passed it: without one they are sent to enrol, with one not yet used in this session (a session that
    began before enrolment, or outside allauth's login) they are asked for a code first."""

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
        ):
            if not is_mfa_enabled(request.user, types=_SECOND_FACTORS):
                messages.warning(request, "Set up two-factor authentication before using the administration.")
                return redirect("mfa_activate_totp")
            if not any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user)):
                query = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('mfa_reauthenticate')}?{query}")
        return self.get_response(request)


class SsoFormActionMiddleware:
    """An SSO provider's login page posts to Gatehouse, which redirects to the identity provider; browsers apply the
    page's CSP ``form-action`` to that redirect too. On those pages alone, the redirect may leave this origin (the
    page's only form is allauth's own, posting to itself). Listed after django-csp's middleware, so it runs first on
    the way out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.func.__module__.startswith("allauth.socialaccount.providers"):
            response._csp_update = {"form-action": ["*"]}
        return response
