"""Scoping for the REST API, in one place: every viewset's queryset passes through ``restrict`` (the model's
``visible_to``), and every create through ``principal_may(P, <model's create permission>)``, so a new endpoint
built on ``ScopedViewSet`` cannot forget either."""
from __future__ import annotations

from rest_framework import permissions as drf_permissions
from rest_framework import viewsets

from teams import permissions
from teams.principal import Principal
from teams.selectors import principal_for_user

ACTION_FOR_METHOD = {
    "GET": permissions.VIEW,
    "HEAD": permissions.VIEW,
    "OPTIONS": permissions.VIEW,
    "POST": permissions.CHANGE,
    "PUT": permissions.CHANGE,
    "PATCH": permissions.CHANGE,
    "DELETE": permissions.CHANGE,
}


def principal_from_request(request) -> Principal | None:
    if isinstance(request.auth, Principal):
        return request.auth
    user = request.user
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(request, "_gatehouse_principal", None)
    if cached is None:
        cached = request._gatehouse_principal = principal_for_user(user)
    return cached


def restrict(queryset, principal: Principal | None, action: str):
    """The rows of ``queryset`` the principal may act on. Models without ``visible_to`` (users) are all-or-nothing
    on their permission."""
    if hasattr(queryset, "visible_to"):
        return queryset.visible_to(principal, action)
    permission = permissions.permission_for(queryset.model._meta.label_lower, action)
    return queryset if permissions.principal_may(principal, permission) else queryset.none()


class NotServerScoped(drf_permissions.BasePermission):
    """Tokens restricted to virtual servers are for MCP only: they cannot reach the management API."""

    message = "This token is restricted to MCP servers and cannot use the management API."

    def has_permission(self, request, view) -> bool:
        return not (isinstance(request.auth, Principal) and request.auth.server_ids is not None)


class MayCreate(drf_permissions.BasePermission):
    """A create needs the create permission of the viewset's model (teams.permissions.OBJECT_PERMISSIONS)."""

    message = "You may not create this."

    def has_permission(self, request, view) -> bool:
        if getattr(view, "action", None) != "create":
            return True
        label = view.queryset.model._meta.label_lower
        try:
            permission = permissions.permission_for(label, permissions.CREATE)
        except ValueError:
            return False
        return permissions.principal_may(principal_from_request(request), permission)


class TokenScopeAllows(drf_permissions.BasePermission):
    """A token whose permission scope leaves out what the endpoint needs (the viewset's model and the request's
    action, nothing about any object) is refused with 403 naming the missing permission: ``insufficient_scope``.
    Objects the token's user may not see still look missing, through ``restrict``."""

    message = "This token's scope does not cover this endpoint."

    def has_permission(self, request, view) -> bool:
        principal = request.auth if isinstance(request.auth, Principal) else None
        if principal is None or principal.permission_scope is None or getattr(view, "queryset", None) is None:
            return True
        action = permissions.CREATE if getattr(view, "action", None) == "create" else ACTION_FOR_METHOD.get(
            request.method, permissions.CHANGE)
        try:
            needed = permissions.permission_for(view.queryset.model._meta.label_lower, action)
        except ValueError:
            return True
        if needed in principal.permission_scope:
            return True
        self.message = {
            "detail": f"This token's scope lacks the '{needed}' permission this endpoint needs.",
            "error": "insufficient_scope",
            "scope": needed,
        }
        return False


class ScopedViewSet(viewsets.GenericViewSet):
    permission_classes = [drf_permissions.IsAuthenticated, NotServerScoped, TokenScopeAllows, MayCreate]

    @property
    def principal(self) -> Principal | None:
        return principal_from_request(self.request)

    def get_queryset(self):
        action = ACTION_FOR_METHOD.get(self.request.method, permissions.CHANGE)
        return restrict(self.queryset.all(), self.principal, action)
