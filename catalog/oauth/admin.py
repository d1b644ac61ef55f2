"""Users' upstream OAuth connections in the admin: platform administrators see who connected what (never a token)
and can revoke a connection (through the service, audited)."""
from __future__ import annotations

from django.contrib import admin, messages

from catalog.models import UpstreamConnection
from catalog.oauth.services import upstream_connection_delete


@admin.register(UpstreamConnection)
class UpstreamConnectionAdmin(admin.ModelAdmin):
    list_display = ["user", "upstream", "issuer", "scope", "expires_at", "refreshed_at", "created_at"]
    list_select_related = ["user", "upstream"]
    raw_id_fields = ["user", "upstream"]
    search_fields = ["user__email", "upstream__name"]
    exclude = ["tokens_sealed"]
    readonly_fields = ["user", "upstream", "issuer", "token_endpoint", "client_id", "resource", "scope", "expires_at",
                       "created_at", "refreshed_at"]
    actions = ["revoke"]
    show_full_result_count = False

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # revoke goes through the service (audit, catalog version)
        return actions

    def delete_model(self, request, obj) -> None:
        upstream_connection_delete(connection=obj, actor=request.user)

    @admin.action(description="Revoke the selected connections")
    def revoke(self, request, queryset) -> None:
        connections = list(queryset.select_related("user", "upstream"))
        for connection in connections:
            upstream_connection_delete(connection=connection, actor=request.user)
        self.message_user(request, f"Revoked {len(connections)} connection(s).", messages.SUCCESS)
