from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import path

from catalog import services
from catalog.models import RestEndpoint
from catalog.passthrough import PassthroughError, allowlist_clean
from catalog.rest import RestDefinitionError, definition_clean
from catalog.composition import KINDS, EntryKind, composition_check
from catalog.health_services import upstream_health_interval_set
from catalog.oauth import admin as _oauth_admin  # noqa: F401 - registers users' upstream connections
from catalog.models import HealthCheck, Prompt, Resource, ResourceTemplate, Tool, Upstream, UpstreamHealth, VirtualServer
from config.metrics_stats import tool_statistics
from config.metrics_view import metrics_registry
from proxy.upstream.breaker import breaker_state
from teams.admin_scoping import PrincipalScopedAdmin


OAUTH_FIELDS = ("client_id", "client_secret", "scope", "issuer", "token_endpoint", "resource")


class UpstreamForm(forms.ModelForm):
    """Credentials are write-only: blank keeps what is stored, and nothing stored is ever rendered."""

    url = forms.URLField(max_length=2048, assume_scheme="https")
    bearer_token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    basic_username = forms.CharField(required=False)
    basic_password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    custom_headers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text='JSON object, e.g. {"X-Api-Key": "…"}'
    )
    oauth_client_id = forms.CharField(required=False, label="OAuth client id")
    oauth_client_secret = forms.CharField(
        required=False, label="OAuth client secret", widget=forms.PasswordInput(render_value=False)
    )
    oauth_scope = forms.CharField(required=False, label="OAuth scope")
    oauth_issuer = forms.URLField(
        required=False, label="OAuth issuer", assume_scheme="https",
        help_text="Blank: found from the upstream's protected-resource metadata.",
    )
    oauth_token_endpoint = forms.URLField(required=False, label="OAuth token endpoint", assume_scheme="https",
                                          help_text="Client credentials: blank discovers it from the issuer.")
    oauth_resource = forms.URLField(required=False, label="OAuth resource", assume_scheme="https",
                                    help_text="RFC 8707 resource indicator; blank: the upstream's URL.")
    stdio_env = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Environment (stdio)",
        help_text='JSON object of variables for the command; blank keeps what is stored.',
    )

    class Meta:
        model = Upstream
        fields = [
            "name", "slug", "url", "command", "args", "transport", "auth_type", "owner", "team", "visibility",
            "enabled", "timeout_seconds", "session_binding", "header_passthrough", "capture_traffic",
        ]

    def credentials(self) -> dict | None:
        data = self.cleaned_data
        auth_type = data.get("auth_type")
        if auth_type == Upstream.AuthType.BEARER and data.get("bearer_token"):
            return {"token": data["bearer_token"]}
        if auth_type == Upstream.AuthType.BASIC and data.get("basic_username"):
            return {"username": data["basic_username"], "password": data.get("basic_password", "")}
        if auth_type == Upstream.AuthType.HEADERS and data.get("custom_headers"):
            return {"headers": self._headers()}
        if auth_type in (Upstream.AuthType.OAUTH_USER, Upstream.AuthType.OAUTH_CLIENT_CREDENTIALS):
            oauth = {name: data.get(f"oauth_{name}") for name in OAUTH_FIELDS}
            oauth = {name: value for name, value in oauth.items() if value}
            return oauth or None
        return None

    def clean_header_passthrough(self) -> list[str]:
        names = self.cleaned_data.get("header_passthrough") or []
        if not isinstance(names, list):
            raise ValidationError("A JSON list of header names, e.g. [\"X-Tenant\"].")
        try:
            return allowlist_clean(names)
        except PassthroughError as exc:
            raise ValidationError(str(exc)) from None

    def env(self) -> dict | None:
        return self._json_object("stdio_env", "The environment") if self.cleaned_data.get("stdio_env") else None

    def _headers(self) -> dict:
        return self._json_object("custom_headers", "Custom headers")

    def _json_object(self, field: str, label: str) -> dict:
        try:
            value = json.loads(self.cleaned_data[field])
        except ValueError:
            raise ValidationError(f"{label} must be a JSON object.") from None
        if not isinstance(value, dict):
            raise ValidationError(f"{label} must be a JSON object.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("auth_type") == Upstream.AuthType.HEADERS and data.get("custom_headers"):
            self._headers()
        self.env()
        return data


@admin.register(Upstream)
class UpstreamAdmin(PrincipalScopedAdmin):
    form = UpstreamForm
    list_display = ["name", "slug", "url", "transport", "auth_type", "visibility", "enabled", "discovery_status",
                    "discovered_at"]
    list_filter = ["transport", "visibility", "enabled", "discovery_status", "capture_traffic"]
    list_select_related = ["owner", "team"]
    search_fields = ["name", "slug", "url"]
    raw_id_fields = ["owner"]
    readonly_fields = ["discovery_status", "discovery_error", "discovered_at", "has_credentials"]
    actions = ["discover_now"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "transport", "url", "enabled", "timeout_seconds", "session_binding",
                           "capture_traffic"]}),
        ("Local command (stdio transport)", {"fields": ["command", "args", "stdio_env"]}),
        ("Sharing", {"fields": ["owner", "team", "visibility"]}),
        ("Header passthrough (GATEHOUSE_HEADER_PASSTHROUGH)", {"fields": ["header_passthrough"]}),
        ("Upstream credentials (write-only)", {
            "fields": ["auth_type", "has_credentials", "bearer_token", "basic_username", "basic_password",
                       "custom_headers", "oauth_client_id", "oauth_client_secret", "oauth_scope", "oauth_issuer",
                       "oauth_token_endpoint", "oauth_resource"],
            "description": "OAuth settings replace the stored ones when any is filled in (the secret too).",
        }),
        ("Discovery", {"fields": ["discovery_status", "discovery_error", "discovered_at"]}),
    ]

    @admin.display(boolean=True, description="Credentials stored")
    def has_credentials(self, upstream: Upstream) -> bool:
        return bool(upstream.credentials_sealed)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in UpstreamForm.Meta.fields if name in form.cleaned_data}
        try:
            if change:
                fields.pop("slug", None)
                fields.pop("owner", None)
                saved = services.upstream_update(
                    upstream=Upstream.objects.get(pk=obj.pk), actor=request.user, credentials=form.credentials(),
                    env=form.env(),
                    **{name: value for name, value in fields.items() if name in form.changed_data},
                )
            else:
                saved = services.upstream_create(
                    actor=request.user, credentials=form.credentials(), env=form.env(), **fields
                )
        except services.CatalogError as exc:
            raise ValidationError(str(exc)) from None
        obj.pk = saved.pk
        obj.refresh_from_db()
        if not change:
            self._report(request, services.upstream_discover(upstream=saved, actor=request.user))

    def _report(self, request, report: services.DiscoveryReport) -> None:
        if report.ok:
            self.message_user(
                request,
                f"Discovered {len(report.tools)} tools, {report.resources} resources, {report.prompts} prompts "
                f"from {report.upstream.name}.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, f"Discovery of {report.upstream.name} failed: {report.error}", messages.ERROR)

    @admin.action(description="Discover now")
    def discover_now(self, request, queryset):
        for upstream in queryset:
            self._report(request, services.upstream_discover(upstream=upstream, actor=request.user))


class DiscoveredAdmin(PrincipalScopedAdmin):
    list_filter = ["enabled", "visibility", "upstream"]
    list_select_related = ["upstream"]
    raw_id_fields = ["owner"]
    actions = ["enable", "disable"]
    editable = ("enabled", "visibility", "team")

    def has_add_permission(self, request) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name not in self.editable]

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in self.editable}
        try:
            services.catalog_entry_update(entry=type(obj).objects.get(pk=obj.pk), actor=request.user, **changes)
        except services.CatalogError as exc:
            raise ValidationError(str(exc)) from None

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        for entry in queryset:
            services.catalog_entry_update(entry=entry, actor=request.user, enabled=enabled)
        self.message_user(request, f"{'Enabled' if enabled else 'Disabled'} {queryset.count()} entries.")

    @admin.action(description="Enable")
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable")
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)


@admin.register(Tool)
class ToolAdmin(DiscoveredAdmin):
    list_display = ["exposed_name", "upstream", "original_name", "enabled", "visibility", "missing_since"]
    search_fields = ["exposed_name", "original_name", "description"]
    editable = ("enabled", "visibility", "team", "exposed_name")


class RestEndpointForm(forms.ModelForm):
    """A REST tool in one form: the tool (upstream, name, schema, description) and how it is called."""

    upstream = forms.ModelChoiceField(queryset=Upstream.objects.filter(transport=Upstream.Transport.REST))
    name = forms.CharField(max_length=128, help_text="Exposed as <upstream slug>__<name>.")
    title = forms.CharField(max_length=255, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    input_schema = forms.JSONField(initial=dict, help_text='JSON Schema of the arguments, e.g. {"type": "object", '
                                   '"properties": {"id": {"type": "string"}}}.')

    class Meta:
        model = RestEndpoint
        fields = ["method", "path", "query", "headers", "body_argument", "timeout_seconds"]
        help_texts = {"query": 'JSON list of argument names, e.g. ["q"].',
                      "headers": 'JSON object of argument → header name, e.g. {"trace": "X-Trace"}.'}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tool = getattr(self.instance, "tool", None) if self.instance.pk else None
        if tool is not None:
            self.initial.update(upstream=tool.upstream_id, name=tool.original_name, title=tool.title,
                                description=tool.description, input_schema=json.loads(tool.input_schema))
            # The tool's identity is fixed once defined; delete and define again to move it.
            self.fields["upstream"].disabled = self.fields["name"].disabled = True

    def clean(self):
        """The definition rules as form errors (rest_tool_define applies them again when saving)."""
        data = super().clean()
        if self.errors:
            return data
        try:
            definition_clean(
                method=data["method"], path=data["path"], query=data.get("query"), headers=data.get("headers"),
                body_argument=data.get("body_argument", ""), input_schema=data.get("input_schema"),
                timeout_seconds=data.get("timeout_seconds"),
            )
        except RestDefinitionError as exc:
            raise ValidationError(str(exc)) from None
        return data


@admin.register(RestEndpoint)
class RestEndpointAdmin(admin.ModelAdmin):
    form = RestEndpointForm
    list_display = ["tool", "method", "path", "timeout_seconds"]
    list_select_related = ["tool"]
    search_fields = ["tool__exposed_name", "path"]
    list_filter = ["method", "tool__upstream"]

    # Defining a REST tool reaches any upstream URL with its sealed credentials: platform administrators only
    # (until this admin is scoped per principal like the other catalog admins).
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            tool = services.rest_tool_define(
                upstream=data["upstream"], name=data["name"], method=data["method"], path=data["path"],
                query=data.get("query"), headers=data.get("headers"), body_argument=data.get("body_argument", ""),
                input_schema=data["input_schema"], title=data.get("title", ""),
                description=data.get("description", ""), timeout_seconds=data.get("timeout_seconds"),
                actor=request.user,
            )
        except services.CatalogError as exc:
            raise ValidationError(str(exc)) from None
        obj.pk = tool.pk
        obj.refresh_from_db()


@admin.register(Prompt)
class PromptAdmin(DiscoveredAdmin):
    list_display = ["exposed_name", "upstream", "original_name", "enabled", "visibility", "missing_since"]
    search_fields = ["exposed_name", "original_name", "description"]
    editable = ("enabled", "visibility", "team", "exposed_name")


@admin.register(Resource)
class ResourceAdmin(DiscoveredAdmin):
    list_display = ["uri", "name", "upstream", "mime_type", "enabled", "visibility", "missing_since"]
    search_fields = ["uri", "name"]


@admin.register(ResourceTemplate)
class ResourceTemplateAdmin(DiscoveredAdmin):
    list_display = ["uri_template", "name", "upstream", "enabled", "visibility", "missing_since"]
    search_fields = ["uri_template", "name"]


class ServerEntryFormSet(BaseInlineFormSet):
    kind: EntryKind

    def clean(self):
        super().clean()
        field = self.kind.noun
        kept = [
            (form.cleaned_data[field], form.cleaned_data.get("alias", ""))
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get(field)
        ]
        try:
            composition_check(self.instance, self.kind, kept)
        except services.CatalogError as exc:
            raise ValidationError(str(exc)) from None


def _entry_inline(kind: EntryKind) -> type[admin.TabularInline]:
    formset = type(f"Server{kind.noun.title()}FormSet", (ServerEntryFormSet,), {"kind": kind})
    return type(
        f"Server{kind.noun.title()}Inline",
        (admin.TabularInline,),
        {"model": kind.through, "formset": formset, "extra": 1, "autocomplete_fields": [kind.noun]},
    )


_SERVER_FIELDS = ("name", "description", "enabled", "team", "visibility", "allow_anonymous", "capture_traffic")


@admin.register(VirtualServer)
class VirtualServerAdmin(PrincipalScopedAdmin):
    list_display = ["slug", "name", "visibility", "enabled", "allow_anonymous", "owner", "created_at"]
    list_filter = ["visibility", "enabled", "allow_anonymous", "capture_traffic"]
    list_select_related = ["owner", "team"]
    search_fields = ["slug", "name"]
    raw_id_fields = ["owner"]
    inlines = [_entry_inline(kind) for kind in KINDS]
    fields = ["slug", "name", "description", "enabled", "allow_anonymous", "capture_traffic", "owner", "team",
              "visibility"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in _SERVER_FIELDS}
        try:
            if change:
                saved = services.server_update(server=VirtualServer.objects.get(pk=obj.pk), actor=request.user, **fields)
            else:
                saved = services.server_create(
                    owner=form.cleaned_data["owner"], slug=form.cleaned_data["slug"], actor=request.user, **fields
                )
        except services.CatalogError as exc:
            raise ValidationError(str(exc)) from None
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.server_composition_saved(server=form.instance, actor=request.user)


@admin.register(UpstreamHealth)
class UpstreamHealthAdmin(admin.ModelAdmin):
    """Health as the periodic probe sees it; only the probe interval is editable."""

    list_display = ["upstream", "status", "breaker", "consecutive_failures", "last_checked_at", "last_latency_ms", "last_ok_at"]
    list_filter = ["status"]
    list_select_related = ["upstream"]
    search_fields = ["upstream__name", "upstream__slug"]
    fields = [
        "upstream", "status", "breaker", "interval_seconds", "consecutive_failures", "last_checked_at",
        "last_latency_ms", "last_ok_at", "last_error", "status_changed_at",
    ]
    readonly_fields = [f for f in fields if f != "interval_seconds"]

    def get_urls(self):
        statistics = path("statistics/", self.admin_site.admin_view(self.statistics_view), name="catalog_tool_statistics")
        return [statistics, *super().get_urls()]

    def statistics_view(self, request):
        """Calls, error rate and latency percentiles per tool and virtual server (config.metrics_stats)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Tool statistics",
            "rows": tool_statistics(metrics_registry()),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/catalog/tool_statistics.html", context)

    def save_model(self, request, obj, form, change) -> None:
        upstream_health_interval_set(health=obj, interval_seconds=obj.interval_seconds, actor=request.user)

    @admin.display(description="circuit breaker")
    def breaker(self, obj: UpstreamHealth) -> str:
        return breaker_state(obj.upstream_id)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(HealthCheck)
class HealthCheckAdmin(admin.ModelAdmin):
    list_display = ["checked_at", "upstream", "ok", "latency_ms", "error"]
    list_filter = ["ok", "upstream"]
    list_select_related = ["upstream"]
    date_hierarchy = "checked_at"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
