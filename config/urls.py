from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import health, ready
from config.metrics_view import metrics

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
    path("metrics", metrics, name="metrics"),  # ops: Prometheus, bearer METRICS_TOKEN or platform admin
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]
