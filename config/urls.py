from __future__ import annotations

from allauth.account import views as allauth_views
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import admin_login
from config.health import health, ready
from config.ratelimits import login_rate_limited
from config.wellknown import protected_resource_metadata, robots_txt, security_txt
from config.metrics_view import metrics

admin.site.site_header = "Gatehouse administration"
admin.site.site_title = "Gatehouse"

SWAGGER_CDN = "https://cdn.jsdelivr.net"
SWAGGER_CSP = {"script-src": [SWAGGER_CDN], "style-src": [SWAGGER_CDN, "'unsafe-inline'"], "img-src": [SWAGGER_CDN]}

api_v1 = [
    path("", include("catalog.api.urls")),
    path("", include("tokens.api.urls")),
    path("", include("teams.api.urls")),  # teams, memberships, invitations, roles, users, me
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI comes from its CDN; its start-up script is served as a file so the page needs no inline script.
    path("docs/", csp_update(SWAGGER_CSP)(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="swagger-ui"),
]

urlpatterns = [
    path("health", health, name="health"),
    path("ready", ready, name="ready"),
    # --- identity: the admin logs in through allauth (lockout, SSO, MFA); ADMIN_URL moves it ---
    path(f"{settings.ADMIN_URL}login/", admin_login, name="admin_login_via_allauth"),
    path(
        f"{settings.ADMIN_URL}password_change/",
        RedirectView.as_view(pattern_name="account_change_password"),
        name="admin_password_change_via_allauth",
    ),
    path(settings.ADMIN_URL, admin.site.urls),
    # Hardening: sign-in attempts are rate limited per client IP and per account name (429 + Retry-After).
    path("accounts/login/", login_rate_limited(allauth_views.login), name="account_login"),
    path("accounts/upstreams/", include("catalog.oauth.urls")),  # a user's upstream OAuth connections
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    # --- end identity ---
    # Hardening: well-known documents (public, unauthenticated).
    path("robots.txt", robots_txt, name="robots-txt"),
    path(".well-known/security.txt", security_txt, name="security-txt"),
    path(".well-known/oauth-protected-resource", protected_resource_metadata, name="oauth-protected-resource"),
    path(".well-known/oauth-protected-resource/<path:resource_path>", protected_resource_metadata),
    path("metrics", metrics, name="metrics"),  # ops: Prometheus, bearer METRICS_TOKEN or platform admin
    path("api/v1/", include(api_v1)),
]
# Hardening: feature flags. A switched-off surface is absent (404), not merely forbidden.
_SWITCHED_OFF = {"api/v1/": not settings.GATEHOUSE_MANAGEMENT_API}
urlpatterns = [
    pattern for pattern in urlpatterns
    if not _SWITCHED_OFF.get(str(pattern.pattern), False)
    and not (not settings.GATEHOUSE_ADMIN_UI and str(pattern.pattern).startswith(settings.ADMIN_URL))
]
