from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from teams import roles, services
from teams.admin_scoping import PrincipalScopedAdmin
from teams.models import Invitation, Membership, PlatformRole, Role, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "role", "custom_role"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "personal_for", "created_at"]
    list_filter = [("personal_for", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["personal_for"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(PrincipalScopedAdmin):
    list_display = ["user", "team", "role", "custom_role", "created_at"]
    list_filter = ["role", "custom_role"]
    list_select_related = ["user", "team", "custom_role"]
    raw_id_fields = ["user", "team"]
    search_fields = ["user__email", "team__name"]


class RoleForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {text}") for name, text in roles.PERMISSIONS.items()
                 if name not in roles.PLATFORM_ONLY],
        widget=forms.CheckboxSelectMultiple, required=False,
    )

    class Meta:
        model = Role
        fields = ["name", "description", "permissions"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """Custom team roles; saved through teams.services.role_save (validated, audited)."""

    form = RoleForm
    list_display = ["name", "permission_list", "updated_at"]
    search_fields = ["name"]

    @admin.display(description="Permissions")
    def permission_list(self, role: Role) -> str:
        return ", ".join(role.permissions)

    def save_model(self, request, obj, form, change):
        # The form already checked the name is unique and every permission is a known team permission.
        saved = services.role_save(
            actor=request.user, role=obj if change else None, name=form.cleaned_data["name"],
            permissions=form.cleaned_data["permissions"], description=form.cleaned_data["description"],
        )
        obj.pk = saved.pk
        self.message_user(request, f"Role {saved.name} saved.", messages.SUCCESS)

    def delete_model(self, request, obj):
        services.role_delete(role=obj, actor=request.user)


@admin.register(PlatformRole)
class PlatformRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "created_at"]
    list_filter = ["role"]
    raw_id_fields = ["user"]
    search_fields = ["user__email"]

    def save_model(self, request, obj, form, change):
        services.platform_role_set(user=obj.user, role=obj.role, actor=request.user)
        obj.pk = PlatformRole.objects.get(user=obj.user).pk

    def delete_model(self, request, obj):
        services.platform_role_set(user=obj.user, role=None, actor=request.user)


@admin.register(Invitation)
class InvitationAdmin(PrincipalScopedAdmin):
    """Invitations are created through the API (the token is shown once there); here they are seen and revoked."""

    list_display = ["email", "team", "role", "invited_by", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    list_select_related = ["team", "invited_by"]
    search_fields = ["email", "team__name"]
    readonly_fields = ["team", "email", "role", "invited_by", "expires_at", "accepted_at", "accepted_by",
                       "revoked_at", "created_at"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request, queryset):
        for invitation in queryset:
            services.invitation_revoke(invitation=invitation, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} invitations.")
