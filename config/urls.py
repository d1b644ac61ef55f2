from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import admin_login
from config.health import health, ready

admin.site.site_header = "Gatehouse administration"
admin.site.site_title = "Gatehouse"

api_v1 = [
    path("", include("catalog.api.urls")),
    path("", include("tokens.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
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
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    # --- end identity ---
    path("api/v1/", include(api_v1)),
]
