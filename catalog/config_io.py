"""Exporting and importing the catalog as JSON: upstreams, catalog entries, virtual servers and their compositions.

Secrets (upstream credentials, stdio environments) are left out unless the export is encrypted for a target key: a
32-byte AES key in urlsafe base64, the same form as a GATEHOUSE_ENCRYPTION_KEYS entry. They then travel as one
AES-GCM box that only ``import_config --decrypt-with`` that key opens.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from catalog import services
from catalog.credentials import PURPOSE as CREDENTIALS_PURPOSE, ENV_PURPOSE
from catalog.errors import CatalogError
from catalog.models import Prompt, Resource, ResourceTemplate, RestEndpoint, Tool, Upstream, VirtualServer, Visibility
from catalog.rest import RestDefinitionError, definition_clean, schema_object
from catalog.version import catalog_version_bump
from config.crypto import unseal
from teams.models import Team

FORMAT, VERSION = "gatehouse-config", 1
SECRETS_PURPOSE = b"gatehouse.config-export.secrets"
STRATEGIES = ("skip", "update", "fail")

_UPSTREAM_FIELDS = (
    "name", "url", "transport", "auth_type", "timeout_seconds", "enabled", "command", "args", "header_passthrough",
    "capture_traffic",
)
_ENTRY_FIELDS = {
    "tools": (Tool, "original_name", ("exposed_name", "title", "description", "input_schema", "output_schema", "annotations", "enabled")),
    "prompts": (Prompt, "original_name", ("exposed_name", "title", "description", "arguments", "enabled")),
    "resources": (Resource, "uri", ("name", "title", "description", "mime_type", "size", "annotations", "enabled")),
    "resource_templates": (ResourceTemplate, "uri_template", ("name", "title", "description", "mime_type", "annotations", "enabled")),
}
# How each tool of a REST upstream is called (catalog.models.RestEndpoint), keyed by upstream slug and tool name.
_REST_FIELDS = ("method", "path", "query", "headers", "body_argument", "timeout_seconds")
# A server's composition: kind → (through relation, entry attribute, the entry's key field)
_COMPOSITION = {
    "tools": ("server_tools", "tool", "original_name"),
    "prompts": ("server_prompts", "prompt", "original_name"),
    "resources": ("server_resources", "resource", "uri"),
}


class ConfigError(ValueError):
    pass


def _key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError("The key must be 32 bytes in urlsafe base64 (e.g. from `openssl rand -base64 32 | tr '+/' '-_'`).")
    return key


def _sharing(row) -> dict[str, Any]:
    return {"owner": row.owner.email, "team": row.team.slug if row.team_id else None, "visibility": row.visibility}


def config_export(*, encrypt_for: str | None = None) -> dict[str, Any]:
    """The catalog as JSON-ready data; secrets only inside an AES-GCM box for ``encrypt_for``."""
    upstreams, secrets = [], {}
    for upstream in Upstream.objects.select_related("owner", "team").order_by("slug"):
        upstreams.append({"slug": upstream.slug, **{f: getattr(upstream, f) for f in _UPSTREAM_FIELDS}, **_sharing(upstream)})
        if encrypt_for and (upstream.credentials_sealed or upstream.env_sealed):
            secrets[upstream.slug] = {
                "credentials": json.loads(unseal(upstream.credentials_sealed, purpose=CREDENTIALS_PURPOSE))
                if upstream.credentials_sealed else None,
                "env": json.loads(unseal(upstream.env_sealed, purpose=ENV_PURPOSE)) if upstream.env_sealed else None,
            }
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "exported_at": timezone.now().isoformat(), "upstreams": upstreams}
    for kind, (model, key, fields) in _ENTRY_FIELDS.items():
        data[kind] = [
            {"upstream": row.upstream.slug, key: getattr(row, key), **{f: getattr(row, f) for f in fields}, **_sharing(row)}
            for row in model.objects.filter(missing_since__isnull=True).select_related("upstream", "owner", "team").order_by("upstream__slug", key)
        ]
    data["rest_endpoints"] = [
        {"upstream": endpoint.tool.upstream.slug, "tool": endpoint.tool.original_name,
         **{f: getattr(endpoint, f) for f in _REST_FIELDS}}
        for endpoint in RestEndpoint.objects.select_related("tool__upstream").order_by("tool__upstream__slug", "tool__original_name")
    ]
    servers = []
    for server in VirtualServer.objects.select_related("owner", "team").order_by("slug"):
        entry = {"slug": server.slug, "name": server.name, "description": server.description, "enabled": server.enabled,
                 "capture_traffic": server.capture_traffic, **_sharing(server)}
        for kind, (relation, attribute, key) in _COMPOSITION.items():
            entry[kind] = [
                [getattr(link, attribute).upstream.slug, getattr(getattr(link, attribute), key), link.alias]
                for link in getattr(server, relation).select_related(f"{attribute}__upstream").order_by("pk")
            ]
        servers.append(entry)
    data["servers"] = servers
    if secrets:
        nonce = os.urandom(12)
        box = AESGCM(_key(encrypt_for)).encrypt(nonce, json.dumps(secrets).encode(), SECRETS_PURPOSE)
        data["secrets"] = base64.urlsafe_b64encode(nonce + box).decode()
    return data


def _open_secrets(data: dict, decrypt_with: str | None) -> dict[str, dict]:
    box = data.get("secrets")
    if not box:
        return {}
    if not decrypt_with:
        raise ConfigError("This export carries encrypted secrets: give --decrypt-with KEY (or remove 'secrets').")
    try:
        raw = base64.urlsafe_b64decode(box)
        return json.loads(AESGCM(_key(decrypt_with)).decrypt(raw[:12], raw[12:], SECRETS_PURPOSE))
    except (InvalidTag, ValueError, binascii.Error):
        raise ConfigError("The secrets could not be decrypted with that key.") from None


@dataclass
class ImportReport:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    dry_run: bool = False

    def as_data(self) -> dict:
        return {"created": dict(self.created), "updated": dict(self.updated), "skipped": dict(self.skipped)}


class _DryRun(Exception):
    pass


class _Importer:
    def __init__(self, data: dict, *, strategy: str, owner_fallback, secrets: dict, actor) -> None:
        self.data, self.strategy, self.owner_fallback, self.secrets, self.actor = data, strategy, owner_fallback, secrets, actor
        self.report = ImportReport()
        self.users = {u.email: u for u in get_user_model().objects.all()}
        self.teams = {t.slug: t for t in Team.objects.all()}
        self.skipped_upstreams: set[str] = set()

    def sharing(self, item: dict) -> dict[str, Any]:
        owner = self.users.get(item.get("owner")) or self.owner_fallback
        if owner is None:
            raise ConfigError(f"No user {item.get('owner')!r} here: create it or give --owner EMAIL.")
        team = self.teams.get(item.get("team")) if item.get("team") else None
        visibility = item.get("visibility", Visibility.PRIVATE)
        if visibility == Visibility.TEAM and team is None:
            visibility = Visibility.PRIVATE  # the team does not exist here: never widen, narrow to private
        return {"owner": owner, "team": team, "visibility": visibility}

    def conflict(self, kind: str, label: str) -> bool:
        """True when the existing row should be updated; False to skip; raises for 'fail'."""
        if self.strategy == "fail":
            raise ConfigError(f"{kind} {label!r} already exists (conflict strategy 'fail').")
        if self.strategy == "skip":
            self.report.skipped[kind] += 1
            return False
        return True

    def upstreams(self) -> None:
        for item in self.data.get("upstreams", []):
            slug = item["slug"]
            secret = self.secrets.get(slug) or {}
            fields = {f: item[f] for f in _UPSTREAM_FIELDS if f in item}
            existing = Upstream.objects.filter(slug=slug).first()
            if existing is None:
                # Without its credentials an upstream cannot authenticate: it arrives as "none" until they are set.
                auth_type = fields.pop("auth_type", "none")
                auth_type = auth_type if secret.get("credentials") else "none"
                services.upstream_create(
                    slug=slug, **fields, auth_type=auth_type, credentials=secret.get("credentials"),
                    env=secret.get("env"), actor=self.actor, **self.sharing(item),
                )
                self.report.created["upstreams"] += 1
            elif self.conflict("upstreams", slug):
                sharing = self.sharing(item)
                changes = {k: v for k, v in fields.items() if k != "auth_type"}
                if secret.get("credentials"):
                    changes["auth_type"] = item.get("auth_type", "none")
                services.upstream_update(
                    upstream=existing, actor=self.actor, credentials=secret.get("credentials"), env=secret.get("env"),
                    team=sharing["team"], visibility=sharing["visibility"], **changes,
                )
                self.report.updated["upstreams"] += 1
            else:
                self.skipped_upstreams.add(slug)

    def entries(self) -> None:
        upstreams = {u.slug: u for u in Upstream.objects.all()}
        for kind, (model, key, fields) in _ENTRY_FIELDS.items():
            for item in self.data.get(kind, []):
                upstream = upstreams.get(item["upstream"])
                if upstream is None:
                    raise ConfigError(f"{kind} {item[key]!r} names an upstream {item['upstream']!r} that is not in the file.")
                if item["upstream"] in self.skipped_upstreams:
                    self.report.skipped[kind] += 1
                    continue
                values = {f: item[f] for f in fields if f in item}
                existing = model.objects.filter(upstream=upstream, **{key: item[key]}).first()
                if existing is None:
                    model.objects.create(upstream=upstream, **{key: item[key]}, **values, **self.sharing(item))
                    self.report.created[kind] += 1
                elif self.conflict(kind, item[key]):
                    for name, value in {**values, **self.sharing(item), "missing_since": None}.items():
                        setattr(existing, name, value)
                    existing.save()
                    self.report.updated[kind] += 1

    def rest_endpoints(self) -> None:
        """After entries(): the REST tools' endpoints, checked by the same rules as rest_tool_define."""
        for item in self.data.get("rest_endpoints", []):
            if item["upstream"] in self.skipped_upstreams:
                self.report.skipped["rest_endpoints"] += 1
                continue
            tool = Tool.objects.filter(upstream__slug=item["upstream"], original_name=item["tool"]).first()
            if tool is None or tool.upstream.transport != Upstream.Transport.REST:
                raise ConfigError(f"REST endpoint of {item['tool']!r} names no REST tool of {item['upstream']!r} in the file.")
            try:
                definition = definition_clean(
                    **{f: item.get(f) for f in _REST_FIELDS}, input_schema=schema_object(tool.input_schema)
                )
            except RestDefinitionError as exc:
                raise ConfigError(f"REST endpoint of {item['tool']!r}: {exc}") from None
            definition.pop("input_schema")
            _, created = RestEndpoint.objects.update_or_create(tool=tool, defaults=definition)
            (self.report.created if created else self.report.updated)["rest_endpoints"] += 1

    def _composition(self, item: dict) -> dict[str, list]:
        composition = {}
        for kind, (_, attribute, key) in _COMPOSITION.items():
            model = _ENTRY_FIELDS[kind][0]
            entries = []
            for upstream_slug, name, alias in item.get(kind, []):
                entry = model.objects.filter(upstream__slug=upstream_slug, **{key: name}).first()
                if entry is None:
                    raise ConfigError(f"Server {item['slug']!r} uses {kind[:-1]} {name!r} of {upstream_slug!r}, which is not in the file.")
                entries.append((entry, alias))
            composition[kind] = entries
        return composition

    def servers(self) -> None:
        for item in self.data.get("servers", []):
            existing = VirtualServer.objects.filter(slug=item["slug"]).first()
            if existing is None:
                sharing = self.sharing(item)
                services.server_create(
                    slug=item["slug"], name=item.get("name", ""), description=item.get("description", ""),
                    enabled=item.get("enabled", True), capture_traffic=item.get("capture_traffic", False),
                    actor=self.actor, **sharing, **self._composition(item),
                )
                self.report.created["servers"] += 1
            elif self.conflict("servers", item["slug"]):
                sharing = self.sharing(item)
                services.server_update(
                    server=existing, actor=self.actor, name=item.get("name", existing.name),
                    description=item.get("description", ""), enabled=item.get("enabled", True),
                    capture_traffic=item.get("capture_traffic", False), team=sharing["team"],
                    visibility=sharing["visibility"], **self._composition(item),
                )
                self.report.updated["servers"] += 1


def config_import(
    *, data: dict, strategy: str = "fail", dry_run: bool = False, decrypt_with: str | None = None,
    owner_fallback=None, actor=None,
) -> ImportReport:
    """Apply an export in one transaction (rolled back whole on any error, or at the end of a dry run)."""
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ConfigError(f"Not a {FORMAT} version {VERSION} file.")
    if strategy not in STRATEGIES:
        raise ConfigError(f"The conflict strategy is one of {', '.join(STRATEGIES)}.")
    importer = _Importer(data, strategy=strategy, owner_fallback=owner_fallback, secrets=_open_secrets(data, decrypt_with), actor=actor)
    try:
        with transaction.atomic():
            importer.upstreams()
            importer.entries()
            importer.rest_endpoints()
            importer.servers()
            audit_record("config.import", actor=actor, via="cli", data={**importer.report.as_data(), "strategy": strategy})
            catalog_version_bump()
            if dry_run:
                raise _DryRun
    except _DryRun:
        importer.report.dry_run = True
    except CatalogError as exc:
        raise ConfigError(str(exc)) from None
    except IntegrityError as exc:
        raise ConfigError(f"The file clashes with what is here: {exc}") from None
    return importer.report
