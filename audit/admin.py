from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from audit.models import AuditCheckpoint, AuditEvent, CapturedMessage
from teams.admin_scoping import request_principal
from teams.permissions import principal_may
from teams.roles import ADMIN_SECURITY_AUDIT


class ReadOnlyAdmin(admin.ModelAdmin):
    """The audit trail is append-only: nobody adds, edits or deletes through the admin, superusers included."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "created_at", "actor_label", "actor_kind", "action", "target_type", "target_label", "via", "ip", "security"]
    list_filter = ["security", "action", "actor_kind", "via", "target_type", "created_at"]
    search_fields = ["actor_label", "target_label", "target_id", "action", "ip"]
    show_full_result_count = False
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["seq", "created_at", "action", "security"]}),
        ("Actor", {"fields": ["actor_kind", "actor_id", "actor_label", "token_id", "via", "ip", "user_agent"]}),
        ("Target", {"fields": ["target_type", "target_id", "target_label"]}),
        ("Change", {"fields": ["data", "before", "after"]}),
        ("Chain", {"fields": ["prev_hash", "hash"]}),
    ]


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["seq", "first_seq", "count", "archive_name", "created_at"]


@admin.register(CapturedMessage)
class CapturedMessageAdmin(ReadOnlyAdmin):
    """Captured MCP traffic: payloads are security data, so only holders of ``admin.security_audit`` (superusers
    included) see this page at all; for everyone else it does not exist."""

    list_display = ["created_at", "direction", "method", "name", "server_slug", "upstream_slug", "principal_label",
                    "rpc_id", "duration_ms", "request_bytes", "response_bytes", "error_code", "session_digest"]
    list_filter = ["server_slug", "upstream_slug", "method", "direction", "created_at"]
    search_fields = ["method", "name", "=session_digest", "=rpc_id"]
    show_full_result_count = False
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["created_at", "direction", "method", "name", "rpc_id", "error_code"]}),
        ("Who and where", {"fields": ["principal_label", "user_id", "token_id", "session_digest", "server_slug",
                                     "upstream_slug"]}),
        ("Measures", {"fields": ["duration_ms", "request_bytes", "response_bytes"]}),
        ("Payload (secrets redacted)", {"fields": ["payload_pretty", "payload_truncated"]}),
    ]
    readonly_fields = ["payload_pretty"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request_principal(request))

    def _may_read(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and principal_may(
            request_principal(request), ADMIN_SECURITY_AUDIT
        )

    def has_module_permission(self, request) -> bool:
        return self._may_read(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may_read(request)

    @admin.display(description="Payload")
    def payload_pretty(self, message: CapturedMessage) -> str:
        """Pretty JSON when the stored payload is whole; a cut payload is shown as stored. Escaped either way."""
        text = message.payload
        if not message.payload_truncated:
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        return format_html('<pre style="white-space: pre-wrap; max-width: 100%">{}</pre>', text)
