from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from catalog import services
from catalog.api import serializers
from catalog.models import Prompt, Resource, ResourceTemplate, Tool, Upstream, VirtualServer
from teams.scoping import ScopedViewSet


def _report(report: services.DiscoveryReport) -> dict:
    return {
        "ok": report.ok,
        "error": report.error,
        "tools": report.tools,
        "resources": report.resources,
        "resource_templates": report.resource_templates,
        "prompts": report.prompts,
        "vanished": report.vanished,
    }


class CatalogViewSet(ScopedViewSet):
    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "principal": self.principal}

    def _service(self, function, **kwargs):
        try:
            return function(**kwargs)
        except services.CatalogError as exc:
            raise ValidationError({"detail": str(exc)}) from None


class UpstreamViewSet(
    CatalogViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin
):
    """Upstream MCP servers. Creating one runs discovery; credentials are write-only."""

    queryset = Upstream.objects.select_related("owner", "team")
    serializer_class = serializers.UpstreamSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upstream = self._service(
            services.upstream_create,
            owner=request.user,
            name=data["name"],
            url=data.get("url", ""),
            command=data.get("command", ""),
            args=data.get("args"),
            env=data.get("env"),
            transport=data.get("transport", Upstream.Transport.STREAMABLE_HTTP),
            auth_type=data.get("auth_type", Upstream.AuthType.NONE),
            credentials=data.get("credentials"),
            team=data.get("team"),
            visibility=data.get("visibility", "private"),
            timeout_seconds=data.get("timeout_seconds"),
            slug=data.get("slug"),
            header_passthrough=data.get("header_passthrough"),
        )
        report = services.upstream_discover(upstream=upstream, actor=request.user)
        body = {**self.get_serializer(report.upstream).data, "discovery": _report(report)}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        changes = dict(serializer.validated_data)
        credentials = changes.pop("credentials", None)
        env = changes.pop("env", None)
        changes.pop("slug", None)
        serializer.instance = self._service(
            services.upstream_update,
            upstream=serializer.instance,
            actor=self.request.user,
            credentials=credentials,
            env=env,
            **changes,
        )

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def discover(self, request, pk=None):
        report = services.upstream_discover(upstream=self.get_object(), actor=request.user)
        return Response(_report(report), status=status.HTTP_200_OK if report.ok else status.HTTP_502_BAD_GATEWAY)


    @extend_schema(request=serializers.RestToolSerializer, responses={201: serializers.ToolSerializer})
    @action(detail=True, methods=["post"], url_path="rest-tools")
    def rest_tools(self, request, pk=None):
        """Define (or change) a tool of a REST upstream; needs change permission on the upstream."""
        upstream = self.get_object()
        definition = serializers.RestToolSerializer(data=request.data)
        definition.is_valid(raise_exception=True)
        tool = self._service(services.rest_tool_define, upstream=upstream, actor=request.user, **definition.validated_data)
        tool = Tool.objects.select_related("upstream", "team", "rest_endpoint").get(pk=tool.pk)
        return Response(serializers.ToolSerializer(tool, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


class DiscoveredViewSet(CatalogViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin):
    """Entries discovered from upstreams: read them, enable/disable, change visibility or team, rename."""

    http_method_names = ["get", "patch", "head", "options"]

    def perform_update(self, serializer):
        serializer.instance = self._service(
            services.catalog_entry_update, entry=serializer.instance, actor=self.request.user, **serializer.validated_data
        )


class ToolViewSet(DiscoveredViewSet):
    queryset = Tool.objects.select_related("upstream", "team", "rest_endpoint")
    serializer_class = serializers.ToolSerializer


class ResourceViewSet(DiscoveredViewSet):
    queryset = Resource.objects.select_related("upstream", "team")
    serializer_class = serializers.ResourceSerializer


class ResourceTemplateViewSet(DiscoveredViewSet):
    queryset = ResourceTemplate.objects.select_related("upstream", "team")
    serializer_class = serializers.ResourceTemplateSerializer


class PromptViewSet(DiscoveredViewSet):
    queryset = Prompt.objects.select_related("upstream", "team")
    serializer_class = serializers.PromptSerializer


class VirtualServerViewSet(
    CatalogViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
):
    """Virtual servers composed from catalog tools; clients reach each at its ``mcp_path``."""

    queryset = VirtualServer.objects.select_related("owner", "team")
    serializer_class = serializers.VirtualServerSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = self._service(services.server_create, owner=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("slug", None)
        serializer.instance = self._service(
            services.server_update,
            server=serializer.instance,
            actor=self.request.user,
            **data,
        )

    def perform_destroy(self, server):
        services.server_delete(server=server, actor=self.request.user)
