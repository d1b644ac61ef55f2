from __future__ import annotations

from rest_framework.routers import SimpleRouter

from catalog.api import views
from catalog.oauth.api import UpstreamConnectionViewSet

router = SimpleRouter(trailing_slash=True)
router.register("upstreams", views.UpstreamViewSet, basename="upstream")
router.register("tools", views.ToolViewSet, basename="tool")
router.register("resources", views.ResourceViewSet, basename="resource")
router.register("resource-templates", views.ResourceTemplateViewSet, basename="resource-template")
router.register("prompts", views.PromptViewSet, basename="prompt")
router.register("servers", views.VirtualServerViewSet, basename="server")
# A user's own upstream OAuth connections (catalog.oauth).
router.register("me/upstream-connections", UpstreamConnectionViewSet, basename="upstream-connection")

urlpatterns = router.urls
