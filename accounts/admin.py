from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils import timezone

from accounts import services
from accounts.models import AuthEvent, SsoGroupRule, User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = UserCreationForm
    form = UserEditForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_superuser", "is_active", "is_locked", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["last_login", "date_joined", "locked_until", "failed_login_count", "last_failed_login_at"]
    actions = ["unlock"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Login failures", {"fields": ["locked_until", "failed_login_count", "last_failed_login_at"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]

    @admin.display(boolean=True, description="Locked")
    def is_locked(self, user: User) -> bool:
        return user.locked_until is not None and user.locked_until > timezone.now()

    @admin.action(description="Unlock the selected accounts")
    def unlock(self, request, queryset) -> None:
        users = list(queryset)
        for user in users:
            services.user_unlock(user=user, actor=request.user)
        self.message_user(request, f"Unlocked {len(users)} account(s).", messages.SUCCESS)


@admin.register(AuthEvent)
class AuthEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "email", "user", "ip", "detail"]
    list_filter = ["kind"]
    search_fields = ["email", "ip"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    show_full_result_count = False
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SsoGroupRule)
class SsoGroupRuleAdmin(admin.ModelAdmin):
    list_display = ["provider", "claim", "value", "team", "role"]
    list_filter = ["provider", "role"]
    search_fields = ["value", "team__name"]
    list_select_related = ["team"]
    autocomplete_fields = ["team"]

    def save_model(self, request, obj, form, change) -> None:
        services.sso_group_rule_save(rule=obj, actor=request.user)

    def delete_model(self, request, obj) -> None:
        services.sso_group_rule_delete(rule=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for rule in queryset:
            services.sso_group_rule_delete(rule=rule, actor=request.user)
