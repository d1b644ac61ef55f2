from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.services import platform_admin_get, user_get_by_email
from catalog import services
from catalog.models import Upstream

BINDINGS = {"pooled": Upstream.SessionBinding.POOLED, "per-client-session": Upstream.SessionBinding.CLIENT_SESSION}


class Command(BaseCommand):
    help = "Register an upstream MCP server, discover it, and print its id and exposed tool names."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--url", default="", help="The MCP endpoint (HTTP transports).")
        parser.add_argument("--command", default="", help="stdio transport: the executable to run.")
        parser.add_argument("--arg", action="append", default=[], help="stdio transport: one argument (repeatable; write --arg=--flag for a value starting with a dash).")
        parser.add_argument("--transport", choices=Upstream.Transport.values, default=Upstream.Transport.STREAMABLE_HTTP)
        parser.add_argument("--bearer-token-file", type=Path, help="File holding the token Gatehouse sends upstream.")
        parser.add_argument(
            "--oauth", choices=["user", "client-credentials"],
            help="user: each Gatehouse user connects their own account (authorization code + PKCE); "
            "client-credentials: Gatehouse's own OAuth client.",
        )
        parser.add_argument("--oauth-client-id", default="")
        parser.add_argument("--oauth-client-secret-file", type=Path, help="File holding the OAuth client secret.")
        parser.add_argument("--oauth-scope", default="")
        parser.add_argument("--oauth-issuer", default="", help="Blank: found from the upstream's metadata.")
        parser.add_argument("--oauth-token-endpoint", default="")
        parser.add_argument("--oauth-resource", default="", help="RFC 8707 resource; blank: the upstream URL.")
        parser.add_argument("--owner", help="Owner's email; defaults to the platform admin.")
        parser.add_argument("--visibility", choices=["private", "team", "public"], default="private")
        parser.add_argument(
            "--binding", choices=sorted(BINDINGS), default="pooled",
            help="pooled (default): one upstream session shared by all clients; per-client-session: one upstream "
            "session per client session (stateful upstreams; relays sampling, elicitation, roots and logging).",
        )
        parser.add_argument("--timeout", type=int, help="Seconds per upstream call (GATEHOUSE_UPSTREAM_TIMEOUT_SECONDS).")

    def handle(self, *args, **options):
        try:
            owner = user_get_by_email(email=options["owner"]) if options["owner"] else platform_admin_get()
        except Exception as exc:  # noqa: BLE001 - DoesNotExist of either lookup
            raise CommandError(str(exc)) from None
        auth_type, credentials = Upstream.AuthType.NONE, None
        if options["bearer_token_file"]:
            try:
                token = options["bearer_token_file"].read_text().strip()
            except OSError as exc:
                raise CommandError(f"Cannot read the bearer token file: {exc}") from None
            auth_type, credentials = Upstream.AuthType.BEARER, {"token": token}
        if options["oauth"]:
            auth_type, credentials = self._oauth(options)
        try:
            upstream = services.upstream_create(
                owner=owner,
                name=options["name"],
                url=options["url"],
                command=options["command"],
                args=options["arg"],
                transport=options["transport"],
                auth_type=auth_type,
                credentials=credentials,
                visibility=options["visibility"],
                timeout_seconds=options["timeout"],
                session_binding=BINDINGS[options["binding"]],
            )
        except services.CatalogError as exc:
            raise CommandError(str(exc)) from None
        if auth_type == Upstream.AuthType.OAUTH_USER:
            self.stdout.write(
                f"Upstream {upstream.name} registered with id {upstream.pk} (slug {upstream.slug}). Its owner connects "
                f"at /accounts/upstreams/{upstream.slug}/connect/, then discovery runs (manage.py discover)."
            )
            return
        report = services.upstream_discover(upstream=upstream)
        self.stdout.write(f"Upstream {upstream.name} registered with id {upstream.pk} (slug {upstream.slug}).")
        if not report.ok:
            raise CommandError(f"Discovery failed: {report.error}")
        self.stdout.write(f"Discovered {len(report.tools)} tools, {report.resources} resources, {report.prompts} prompts:")
        for name in report.tools:
            self.stdout.write(f"  {name}")

    def _oauth(self, options) -> tuple[str, dict]:
        secret = ""
        if options["oauth_client_secret_file"]:
            try:
                secret = options["oauth_client_secret_file"].read_text().strip()
            except OSError as exc:
                raise CommandError(f"Cannot read the OAuth client secret file: {exc}") from None
        credentials = {
            "client_id": options["oauth_client_id"], "client_secret": secret, "scope": options["oauth_scope"],
            "issuer": options["oauth_issuer"], "token_endpoint": options["oauth_token_endpoint"],
            "resource": options["oauth_resource"],
        }
        auth_type = (
            Upstream.AuthType.OAUTH_USER if options["oauth"] == "user" else Upstream.AuthType.OAUTH_CLIENT_CREDENTIALS
        )
        return auth_type, {name: value for name, value in credentials.items() if value}
