from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from teams.api import views

router = SimpleRouter(trailing_slash=True)
router.register("teams", views.TeamViewSet, basename="team")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("roles", views.RoleViewSet, basename="role")
router.register("users", views.UserViewSet, basename="user")

urlpatterns = [path("me/", views.MeView.as_view(), name="me"), *router.urls]
