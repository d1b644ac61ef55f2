from __future__ import annotations

from django.conf import settings
from django.db import models

from config.display import validate_display_line, validate_display_paragraph
from teams import permissions
from teams.principal import Principal


class Visibility(models.TextChoices):
    PRIVATE = permissions.PRIVATE, "Private"
    TEAM = permissions.TEAM, "Team"
    PUBLIC = permissions.PUBLIC, "Public"


class OwnedQuerySet(models.QuerySet):
    def visible_to(self, principal: Principal | None, action: str = permissions.VIEW) -> OwnedQuerySet:
        """The single scoping method: what ``principal`` may do ``action`` on. Anonymous sees nothing."""
        if principal is None:
            return self.none()
        condition = permissions.scope_filter(principal, action, model_label=self.model._meta.label_lower)
        return self if condition is None else self.filter(condition)


class Owned(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.PRIVATE)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        abstract = True


class Upstream(Owned):
    class Transport(models.TextChoices):
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
        SSE = "sse", "HTTP+SSE (legacy)"
        STDIO = "stdio", "Local command (stdio)"
        REST = "rest", "REST API (tools defined here)"

    class AuthType(models.TextChoices):
        NONE = "none", "None"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "Basic"
        HEADERS = "headers", "Custom headers"
        # Each Gatehouse user connects their own account in the browser (authorization code + PKCE); the upstream
        # sees that user's token (catalog.oauth).
        OAUTH_USER = "oauth_user", "OAuth: each user connects their own account"
        # Gatehouse's own OAuth client (client credentials grant); one token shared by every caller.
        OAUTH_CLIENT_CREDENTIALS = "oauth_client_credentials", "OAuth: client credentials"

    class SessionBinding(models.TextChoices):
        POOLED = "pooled", "Pooled (shared by every client)"
        CLIENT_SESSION = "client_session", "Per client session (1:1)"

    class DiscoveryStatus(models.TextChoices):
        NEVER = "never", "Never run"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=100, unique=True, validators=[validate_display_line])
    slug = models.SlugField(max_length=40, unique=True)
    url = models.URLField(max_length=2048, blank=True, default="", help_text="HTTP transports only.")
    command = models.CharField(max_length=1024, blank=True, default="", help_text="stdio only: the executable.")
    args = models.JSONField(default=list, blank=True, help_text="stdio only: a list of arguments.")
    # AES-GCM sealed JSON object of environment variables for a stdio command; never shown, never returned.
    env_sealed = models.TextField(blank=True, default="")
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP)
    auth_type = models.CharField(max_length=32, choices=AuthType.choices, default=AuthType.NONE)
    # AES-GCM sealed JSON (config.crypto); never shown, never returned.
    credentials_sealed = models.TextField(blank=True, default="")
    timeout_seconds = models.PositiveIntegerField(default=30)
    # Pooled sessions serve any client from any process; a per-client-session upstream session belongs to one
    # client session (stateful upstreams, and the sampling/elicitation/roots/logging relays).
    session_binding = models.CharField(
        max_length=20, choices=SessionBinding.choices, default=SessionBinding.POOLED
    )
    # Header names a client's MCP request may pass on to this upstream (catalog.passthrough); honoured only with
    # GATEHOUSE_HEADER_PASSTHROUGH=true.
    header_passthrough = models.JSONField(
        default=list, blank=True,
        help_text="Client request headers forwarded to this upstream (GATEHOUSE_HEADER_PASSTHROUGH must be on); "
                  "x-upstream-authorization is forwarded as Authorization.",
    )
    enabled = models.BooleanField(default=True)
    capture_traffic = models.BooleanField(
        default=False,
        help_text="Record the MCP messages of calls routed to this upstream (secrets redacted; readable by security "
        "auditors only). Off by default.",
    )
    discovery_status = models.CharField(
        max_length=10, choices=DiscoveryStatus.choices, default=DiscoveryStatus.NEVER
    )
    discovery_error = models.TextField(blank=True, default="")
    discovered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Discovered(Owned):
    """Something an upstream advertised. ``missing_since`` is set when a later discovery no longer lists it."""

    upstream = models.ForeignKey(Upstream, on_delete=models.CASCADE, related_name="%(class)ss")
    title = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    missing_since = models.DateTimeField(null=True, blank=True)
    discovered_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Tool(Discovered):
    original_name = models.CharField(max_length=128)
    exposed_name = models.CharField(max_length=64, unique=True)
    # JSON text exactly as the upstream sent it (key order kept; jsonb would reorder it).
    input_schema = models.TextField(default="{}")
    output_schema = models.TextField(blank=True, default="")
    annotations = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["exposed_name"]
        constraints = [models.UniqueConstraint(fields=["upstream", "original_name"], name="tool_unique_per_upstream")]

    def __str__(self) -> str:
        return self.exposed_name


class RestEndpoint(models.Model):
    """How one tool of a REST upstream becomes an HTTP request: defined by an administrator, not discovered
    (catalog.rest validates it, proxy.upstream.rest sends it)."""

    class Method(models.TextChoices):
        GET = "GET"
        POST = "POST"
        PUT = "PUT"
        PATCH = "PATCH"
        DELETE = "DELETE"

    tool = models.OneToOneField(Tool, on_delete=models.CASCADE, primary_key=True, related_name="rest_endpoint")
    method = models.CharField(max_length=6, choices=Method.choices, default=Method.GET)
    path = models.CharField(
        max_length=2048, help_text="Appended to the upstream URL; {name} is replaced by that argument, percent-encoded."
    )
    # Argument names sent as query parameters (same name).
    query = models.JSONField(default=list, blank=True)
    # Argument name → request header name.
    headers = models.JSONField(default=dict, blank=True)
    # Blank: every argument not used by the path, query or headers goes in a JSON object body (methods with a body).
    # Otherwise the one argument whose value is the whole JSON body.
    body_argument = models.CharField(max_length=128, blank=True, default="")
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Blank uses the upstream's timeout.")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class Resource(Discovered):
    uri = models.CharField(max_length=2048)
    name = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=255, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    annotations = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["upstream", "uri"]
        constraints = [models.UniqueConstraint(fields=["upstream", "uri"], name="resource_unique_per_upstream")]

    def __str__(self) -> str:
        return self.uri


class ResourceTemplate(Discovered):
    uri_template = models.CharField(max_length=2048)
    name = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=255, blank=True, default="")
    annotations = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["upstream", "uri_template"]
        constraints = [
            models.UniqueConstraint(fields=["upstream", "uri_template"], name="resource_template_unique_per_upstream")
        ]

    def __str__(self) -> str:
        return self.uri_template


class Prompt(Discovered):
    original_name = models.CharField(max_length=128)
    exposed_name = models.CharField(max_length=64, unique=True)
    arguments = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["exposed_name"]
        constraints = [models.UniqueConstraint(fields=["upstream", "original_name"], name="prompt_unique_per_upstream")]

    def __str__(self) -> str:
        return self.exposed_name


class VirtualServer(Owned):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100, validators=[validate_display_line])
    description = models.TextField(blank=True, default="", validators=[validate_display_paragraph])
    enabled = models.BooleanField(default=True)
    allow_anonymous = models.BooleanField(
        default=False,
        help_text="Serve MCP clients that send no token, with the owner's view of this server. Off by default; "
        "flagged by the security posture check.",
    )
    capture_traffic = models.BooleanField(
        default=False,
        help_text="Record every MCP message clients exchange with this server (secrets redacted; readable by "
        "security auditors only). Off by default.",
    )
    tools = models.ManyToManyField(Tool, through="ServerTool", related_name="servers", blank=True)
    resources = models.ManyToManyField(Resource, through="ServerResource", related_name="servers", blank=True)
    prompts = models.ManyToManyField(Prompt, through="ServerPrompt", related_name="servers", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ServerTool(models.Model):
    server = models.ForeignKey(VirtualServer, on_delete=models.CASCADE, related_name="server_tools")
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="server_entries")
    alias = models.CharField(max_length=64, blank=True, default="", help_text="Name on this server; blank keeps the exposed name.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["server", "tool"], name="server_tool_unique")]


class ServerResource(models.Model):
    server = models.ForeignKey(VirtualServer, on_delete=models.CASCADE, related_name="server_resources")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="server_entries")
    alias = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["server", "resource"], name="server_resource_unique")]


class ServerPrompt(models.Model):
    server = models.ForeignKey(VirtualServer, on_delete=models.CASCADE, related_name="server_prompts")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="server_entries")
    alias = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["server", "prompt"], name="server_prompt_unique")]


class CatalogVersion(models.Model):
    """One row whose value changes whenever what any principal can see or call changes."""

    value = models.BigIntegerField(default=0)


class UpstreamHealth(models.Model):
    """The latest health of an upstream, as the periodic probe (catalog.health_services) sees it."""

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        HEALTHY = "healthy", "Healthy"
        UNHEALTHY = "unhealthy", "Unhealthy"

    upstream = models.OneToOneField(Upstream, on_delete=models.CASCADE, primary_key=True, related_name="health")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds between probes; blank uses HEALTH_CHECK_INTERVAL_SECONDS."
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "upstream health"

    def __str__(self) -> str:
        return f"{self.upstream}: {self.status}"


class HealthCheck(models.Model):
    """One probe of one upstream; purged after RETENTION_HEALTH_DAYS."""

    upstream = models.ForeignKey(Upstream, on_delete=models.CASCADE, related_name="health_checks")
    checked_at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    latency_ms = models.PositiveIntegerField()
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["upstream", "-checked_at"], name="healthcheck_upstream_idx")]

    def __str__(self) -> str:
        return f"{self.upstream} {'ok' if self.ok else 'failed'} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class UpstreamConnection(models.Model):
    """One user's OAuth grant for one ``oauth_user`` upstream: the tokens that upstream sees when that user calls it.
    Tokens are sealed (catalog.credentials.CONNECTION_PURPOSE), never shown, never returned."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upstream_connections")
    upstream = models.ForeignKey(Upstream, on_delete=models.CASCADE, related_name="connections")
    # AES-GCM sealed JSON {"access_token", "refresh_token"}.
    tokens_sealed = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When the access token expires.")
    scope = models.CharField(max_length=1024, blank=True, default="")
    # Where the tokens came from and how to refresh them (the authorization server at connect time).
    issuer = models.CharField(max_length=2048)
    token_endpoint = models.CharField(max_length=2048)
    client_id = models.CharField(max_length=255)
    resource = models.CharField(max_length=2048)
    created_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["upstream__name"]
        constraints = [models.UniqueConstraint(fields=["user", "upstream"], name="upstream_connection_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.upstream}"
