"""allauth adapters: who may sign up, which SSO logins are accepted."""
from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.shortcuts import render

from accounts.services import sso_email_allowed


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return settings.PUBLIC_REGISTRATION_ENABLED


def _sso_email(sociallogin) -> str:
    if sociallogin.user is not None and sociallogin.user.email:
        return sociallogin.user.email
    addresses = sociallogin.email_addresses or []
    return addresses[0].email if addresses else ""


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request, sociallogin) -> None:
        # Checked before any account is found or made, so a refused domain can neither sign up nor sign in.
        email = _sso_email(sociallogin)
        if not sso_email_allowed(email=email):
            raise ImmediateHttpResponse(
                render(request, "account/sso_refused.html", {"email": email}, status=403)
            )

    def is_open_for_signup(self, request, sociallogin) -> bool:
        # An SSO login provisions its user even when public registration is closed: the IdP is the gate.
        return settings.SSO_AUTO_PROVISION or settings.PUBLIC_REGISTRATION_ENABLED
