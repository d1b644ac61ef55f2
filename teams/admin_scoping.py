"""The Django admin asks the same question as the API and MCP: staff who are not superusers see and change only the
objects their team roles allow, through each model's ``visible_to(principal, "change")``. A team admin manages their
teams' members, invitations, tokens and catalog entries and nothing else; another team's object is missing, exactly
like one that does not exist."""
from __future__ import annotations

from django.contrib import admin

from teams import permissions
from teams.principal import Principal
from teams.selectors import principal_for_user


def request_principal(request) -> Principal | None:
    """The admin user's Principal, built once per request."""
    if not request.user.is_authenticated:
        return None
    principal = getattr(request, "_gatehouse_principal", None)
    if principal is None:
        principal = request._gatehouse_principal = principal_for_user(request.user)
    return principal


class PrincipalScopedAdmin(admin.ModelAdmin):
    """For models whose queryset has ``visible_to(principal, action)``."""

    def _manages_something(self, request) -> bool:
        principal = request_principal(request)
        return principal is not None and request.user.is_staff and bool(principal.managed_team_ids)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.visible_to(request_principal(request), permissions.CHANGE)

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or self._manages_something(request)

    def _may_manage(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return self._manages_something(request)
        # The object is manageable exactly when the scoped queryset holds it: one rule for lists and objects.
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may_manage(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_manage(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_manage(request, obj)

    def has_add_permission(self, request) -> bool:
        return self._may_manage(request)
