from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from catalog.models import VirtualServer
from tokens import services
from tokens.models import ApiToken


class ApiTokenCreateForm(forms.ModelForm):
    expires_days = forms.IntegerField(required=False, min_value=1, max_value=3650)
    servers = forms.ModelMultipleChoiceField(queryset=VirtualServer.objects.all(), required=False)

    class Meta:
        model = ApiToken
        fields = ["user", "name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "display", "user", "expires_at", "revoked_at", "last_used_at", "created_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "lookup", "user__email"]
    raw_id_fields = ["user"]
    actions = ["revoke"]
    readonly_fields = ["display", "user", "name", "servers", "expires_at", "revoked_at", "last_used_at", "created_at"]
    exclude = ["digest", "pepper_id", "lookup"]

    @admin.display(description="Token")
    def display(self, token: ApiToken) -> str:
        return f"{ApiToken.PREFIX}{token.lookup}…"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
            kwargs["fields"] = ["user", "name", "servers", "expires_days"]
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "servers", "expires_days"]
        return self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        token, raw = services.token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            servers=list(form.cleaned_data.get("servers") or []),
            expires_days=form.cleaned_data.get("expires_days"),
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
