from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from catalog.models import VirtualServer
from teams import roles
from teams.admin_scoping import PrincipalScopedAdmin
from tokens import services
from tokens.models import ApiToken, TokenUsage

CREATE_FIELDS = ["user", "name", "servers", "expires_days", "permissions", "ip_ranges", "quota_calls"]


class ApiTokenCreateForm(forms.ModelForm):
    expires_days = forms.IntegerField(required=False, min_value=1, max_value=3650)
    servers = forms.ModelMultipleChoiceField(queryset=VirtualServer.objects.all(), required=False)
    permissions = forms.MultipleChoiceField(
        choices=[(name, name) for name in roles.PERMISSIONS], required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None checked: the user's permissions. Checked: only these (the user must hold them).",
    )
    ip_ranges = forms.CharField(required=False, help_text="Comma-separated CIDRs; empty: any address.")
    quota_calls = forms.IntegerField(required=False, min_value=1, help_text="Calls per day; empty: no quota.")

    class Meta:
        model = ApiToken
        fields = ["user", "name"]

    def clean(self):
        data = super().clean()
        data["ip_ranges"] = [part.strip() for part in (data.get("ip_ranges") or "").split(",") if part.strip()]
        data["permissions"] = list(data.get("permissions") or []) or None
        if data.get("user") is not None and data.get("name"):
            try:
                services.token_scopes_validate(
                    user=data["user"], name=data["name"], expires_days=data.get("expires_days"),
                    permissions=data["permissions"], ip_ranges=data["ip_ranges"], quota_calls=data.get("quota_calls"),
                )
            except services.TokenError as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(PrincipalScopedAdmin):
    list_display = ["name", "display", "user", "expires_at", "revoked_at", "last_used_at", "created_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "lookup", "user__email"]
    raw_id_fields = ["user"]
    actions = ["revoke"]
    readonly_fields = ["display", "user", "team", "name", "servers", "permissions", "teams", "ip_ranges",
                       "time_windows", "quota_calls", "quota_period_seconds", "expires_at", "revoked_at",
                       "last_used_at", "created_at"]
    exclude = ["digest", "pepper_id", "lookup"]

    @admin.display(description="Token")
    def display(self, token: ApiToken) -> str:
        return f"{ApiToken.PREFIX}{token.lookup}…"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
            kwargs["fields"] = CREATE_FIELDS
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return CREATE_FIELDS
        return self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data  # checked by ApiTokenCreateForm.clean through the same service
        token, raw = services.token_create(
            user=data["user"],
            name=data["name"],
            servers=list(data.get("servers") or []),
            expires_days=data.get("expires_days"),
            permissions=data["permissions"],
            ip_ranges=data["ip_ranges"],
            quota_calls=data.get("quota_calls"),
            actor=request.user,
        )
        obj.pk = token.pk
        obj.refresh_from_db()
        self.message_user(
            request, f"Token created. Copy it now, it is shown only once: {raw}", messages.WARNING
        )

    def save_related(self, request, form, formsets, change):
        # token_create already stored the servers.
        pass

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.token_revoke(token=token, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} tokens.")


@admin.register(TokenUsage)
class TokenUsageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "token", "jti", "method", "endpoint", "outcome", "reason", "ip", "latency_ms"]
    list_filter = ["outcome", "method"]
    list_select_related = ["token"]
    search_fields = ["endpoint", "reason", "ip", "jti"]
    show_full_result_count = False
    raw_id_fields = ["token"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
