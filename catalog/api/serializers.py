from __future__ import annotations

import json

from rest_framework import serializers

from catalog.composition import PROMPTS, RESOURCES, TOOLS, Entries, EntryKind
from catalog.models import Prompt, Resource, ResourceTemplate, Tool, Upstream, VirtualServer, Visibility
from teams import permissions
from teams.models import Team


def _team_field() -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)


class TeamScopedMixin:
    """Only teams where the principal may create such objects may be chosen (teams.permissions.may_assign_team)."""

    def validate_team(self, team):
        principal = self.context["principal"]
        label = self.Meta.model._meta.label_lower
        if team is not None and not permissions.may_assign_team(principal, team.pk, model_label=label):
            raise serializers.ValidationError("Unknown team.")
        return team


class UpstreamSerializer(TeamScopedMixin, serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", read_only=True)
    team = _team_field()
    credentials = serializers.JSONField(write_only=True, required=False, help_text="Never returned.")
    env = serializers.JSONField(write_only=True, required=False, help_text="stdio only; never returned.")
    has_credentials = serializers.SerializerMethodField()

    class Meta:
        model = Upstream
        fields = [
            "id", "name", "slug", "url", "command", "args", "env", "transport", "auth_type", "credentials",
            "has_credentials", "owner", "team",
            "visibility", "enabled", "timeout_seconds", "session_binding", "header_passthrough", "capture_traffic",
            "discovery_status", "discovery_error", "discovered_at",
            "created_at", "updated_at",
        ]
        read_only_fields = ["discovery_status", "discovery_error", "discovered_at", "created_at", "updated_at"]
        extra_kwargs = {"slug": {"required": False}}

    def get_has_credentials(self, upstream: Upstream) -> bool:
        return bool(upstream.credentials_sealed)


class _DiscoveredSerializer(TeamScopedMixin, serializers.ModelSerializer):
    upstream_name = serializers.CharField(source="upstream.name", read_only=True)
    team = _team_field()
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class RestToolSerializer(serializers.Serializer):
    """A tool of a REST upstream (catalog.services.rest_tool_define checks the definition)."""

    name = serializers.CharField(max_length=128)
    method = serializers.ChoiceField(choices=["GET", "POST", "PUT", "PATCH", "DELETE"], default="GET")
    path = serializers.CharField(max_length=2048, help_text="Appended to the upstream URL; {name} takes an argument.")
    query = serializers.ListField(child=serializers.CharField(), required=False, help_text="Arguments sent as query parameters.")
    headers = serializers.DictField(child=serializers.CharField(), required=False, help_text="Argument → header name.")
    body_argument = serializers.CharField(required=False, allow_blank=True, default="")
    input_schema = serializers.JSONField(required=False)
    title = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    timeout_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)


class ToolSerializer(_DiscoveredSerializer):
    input_schema = serializers.SerializerMethodField()
    output_schema = serializers.SerializerMethodField()
    rest = serializers.SerializerMethodField(help_text="How a REST upstream's tool is called; null for MCP tools.")

    class Meta:
        model = Tool
        fields = [
            "id", "upstream", "upstream_name", "original_name", "exposed_name", "title", "description",
            "input_schema", "output_schema", "annotations", "enabled", "visibility", "team", "missing_since", "rest",
        ]
        read_only_fields = ["upstream", "original_name", "title", "description", "annotations", "missing_since"]
        # catalog_entry_update checks uniqueness and names both sides of a clash.
        extra_kwargs = {"exposed_name": {"validators": []}}

    def get_input_schema(self, tool: Tool) -> dict:
        return json.loads(tool.input_schema)

    def get_output_schema(self, tool: Tool) -> dict | None:
        return json.loads(tool.output_schema) if tool.output_schema else None

    def get_rest(self, tool: Tool) -> dict | None:
        endpoint = getattr(tool, "rest_endpoint", None)
        if endpoint is None:
            return None
        return {"method": endpoint.method, "path": endpoint.path, "query": endpoint.query, "headers": endpoint.headers,
                "body_argument": endpoint.body_argument, "timeout_seconds": endpoint.timeout_seconds}


class ResourceSerializer(_DiscoveredSerializer):
    class Meta:
        model = Resource
        fields = [
            "id", "upstream", "upstream_name", "uri", "name", "title", "description", "mime_type", "size",
            "annotations", "enabled", "visibility", "team", "missing_since",
        ]
        read_only_fields = [
            "upstream", "uri", "name", "title", "description", "mime_type", "size", "annotations", "missing_since",
        ]


class ResourceTemplateSerializer(_DiscoveredSerializer):
    class Meta:
        model = ResourceTemplate
        fields = [
            "id", "upstream", "upstream_name", "uri_template", "name", "title", "description", "mime_type",
            "annotations", "enabled", "visibility", "team", "missing_since",
        ]
        read_only_fields = [
            "upstream", "uri_template", "name", "title", "description", "mime_type", "annotations", "missing_since",
        ]


class PromptSerializer(_DiscoveredSerializer):
    class Meta:
        model = Prompt
        fields = [
            "id", "upstream", "upstream_name", "original_name", "exposed_name", "title", "description", "arguments",
            "enabled", "visibility", "team", "missing_since",
        ]
        read_only_fields = ["upstream", "original_name", "title", "description", "arguments", "missing_since"]
        extra_kwargs = {"exposed_name": {"validators": []}}


class _ServerEntries(serializers.ListSerializer):
    """The entries of one kind on a server: written as ids with aliases, read back with the names clients call.

    Readable as well as writable, so the schema documents what responses carry (they always listed the entries)."""

    kind: EntryKind

    def get_attribute(self, server: VirtualServer) -> VirtualServer:
        return server

    def to_representation(self, server: VirtualServer) -> list[dict]:
        kind = self.kind
        rows = kind.through.objects.filter(server=server).select_related(kind.noun)
        return [
            {
                kind.noun: getattr(row, f"{kind.noun}_id"), "alias": row.alias,
                "name": kind.key(getattr(row, kind.noun), row.alias),
            }
            for row in rows
        ]


class _ServerTools(_ServerEntries):
    kind = TOOLS


class _ServerPrompts(_ServerEntries):
    kind = PROMPTS


class _ServerResources(_ServerEntries):
    kind = RESOURCES


# Entry ids are BigAutoField keys: anything outside that range is simply unknown, never a database overflow.
_ENTRY_ID = {"min_value": 1, "max_value": 2**63 - 1}


class _ServerEntrySerializer(serializers.Serializer):
    alias = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    name = serializers.CharField(read_only=True, help_text="What clients call it on this server.")


class ServerToolSerializer(_ServerEntrySerializer):
    tool = serializers.IntegerField(help_text="Tool id.", **_ENTRY_ID)

    class Meta:
        list_serializer_class = _ServerTools


class ServerPromptSerializer(_ServerEntrySerializer):
    prompt = serializers.IntegerField(help_text="Prompt id.", **_ENTRY_ID)

    class Meta:
        list_serializer_class = _ServerPrompts


class ServerResourceSerializer(_ServerEntrySerializer):
    resource = serializers.IntegerField(help_text="Resource id.", **_ENTRY_ID)

    class Meta:
        list_serializer_class = _ServerResources


class VirtualServerSerializer(TeamScopedMixin, serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", read_only=True)
    team = _team_field()
    tools = ServerToolSerializer(many=True, required=False)
    prompts = ServerPromptSerializer(many=True, required=False)
    resources = ServerResourceSerializer(many=True, required=False)
    mcp_path = serializers.SerializerMethodField()

    class Meta:
        model = VirtualServer
        fields = [
            "id", "slug", "name", "description", "enabled", "allow_anonymous", "capture_traffic", "visibility", "team", "owner", "tools",
            "prompts",
            "resources", "mcp_path", "created_at", "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"name": {"required": False, "allow_blank": True}}

    def get_mcp_path(self, server: VirtualServer) -> str:
        return f"/servers/{server.slug}/mcp"

    def _usable(self, kind: EntryKind, items: list[dict]) -> Entries:
        """The entries by id, if the principal may use every one of them; unknown and forbidden look the same."""
        ids = [item[kind.noun] for item in items]
        usable = kind.model.objects.visible_to(self.context["principal"], permissions.USE).select_related("upstream")
        found = {entry.pk: entry for entry in usable.filter(pk__in=ids)}
        missing = [entry_id for entry_id in ids if entry_id not in found]
        if missing:
            raise serializers.ValidationError(f"Unknown {kind.noun} ids: {missing}.")
        return [(found[item[kind.noun]], item.get("alias", "")) for item in items]

    def validate_tools(self, items: list[dict]) -> Entries:
        return self._usable(TOOLS, items)

    def validate_prompts(self, items: list[dict]) -> Entries:
        return self._usable(PROMPTS, items)

    def validate_resources(self, items: list[dict]) -> Entries:
        return self._usable(RESOURCES, items)
