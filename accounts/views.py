from __future__ import annotations

from urllib.parse import urlencode

from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


@login_required
def account_home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html", {"mfa_enabled": is_mfa_enabled(request.user)})


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin has no login form of its own: it sends people through allauth's, where lockout, SSO and MFA
    apply."""
    next_url = request.GET.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not allowed:
        next_url = ""
    next_url = next_url or reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_staff:
            return redirect(next_url)
        # Sending a logged-in non-staff user to the login page would bounce straight back here.
        login_url = f"{reverse('account_login')}?{urlencode({'next': next_url})}"
        return render(request, "accounts/admin_denied.html", {"login_url": login_url}, status=403)
    return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
