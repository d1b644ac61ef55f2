from __future__ import annotations

from django.contrib import admin

from audit.models import AuditCheckpoint, AuditEvent


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
