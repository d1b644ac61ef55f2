from __future__ import annotations

from rest_framework.routers import SimpleRouter

from tokens.api.views import ApiTokenViewSet

router = SimpleRouter(trailing_slash=True)
router.register("tokens", ApiTokenViewSet, basename="token")

urlpatterns = router.urls
