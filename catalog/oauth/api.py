"""``/api/v1/me/upstream-connections/``: a user's own upstream OAuth connections (list, disconnect). Tokens are
never part of the answer; another user's connection is unknown (404)."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from catalog.models import UpstreamConnection
from catalog.oauth.selectors import upstream_connections_of
from catalog.oauth.services import upstream_connection_delete
from teams.scoping import NotServerScoped, principal_from_request


class UpstreamConnectionSerializer(serializers.ModelSerializer):
    upstream = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    upstream_name = serializers.CharField(source="upstream.name", read_only=True)

    class Meta:
        model = UpstreamConnection
        fields = ["id", "upstream", "upstream_name", "issuer", "scope", "expires_at", "created_at", "refreshed_at"]
        read_only_fields = fields


_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema_view(retrieve=extend_schema(parameters=[_ID]), destroy=extend_schema(parameters=[_ID]))
class UpstreamConnectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                                viewsets.GenericViewSet):
    serializer_class = UpstreamConnectionSerializer
    permission_classes = [IsAuthenticated, NotServerScoped]

    def get_queryset(self):
        # Scoped to the caller, whoever they are: no one lists or disconnects another user's connection.
        return upstream_connections_of(user_id=principal_from_request(self.request).user_id).order_by("pk")

    def destroy(self, request, *args, **kwargs):
        connection = self.get_object()
        if principal_from_request(request).permission_scope is not None:
            # A token narrowed to some permissions reads; disconnecting is left to unrestricted credentials.
            raise PermissionDenied("This token's permission scope does not allow disconnecting an upstream.")
        upstream_connection_delete(connection=connection, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
