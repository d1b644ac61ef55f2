from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import health, ready

admin.site.site_header = "Gatehouse administration"
admin.site.site_title = "Gatehouse"

api_v1 = [
    path("", include("catalog.api.urls")),
    path("", include("tokens.api.urls")),
    path("", include("teams.api.urls")),  # teams, memberships, invitations, roles, users, me
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("health", health, name="health"),
    path("ready", ready, name="ready"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]
