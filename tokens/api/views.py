from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from catalog.models import VirtualServer
from teams import permissions
from teams.scoping import ScopedViewSet
from tokens import services
from tokens.api.serializers import ApiTokenCreatedSerializer, ApiTokenCreateSerializer, ApiTokenSerializer
from tokens.models import ApiToken


class ApiTokenViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    """Your API tokens. The secret is returned once, by create; DELETE or ``revoke`` revokes (rows are kept)."""

    queryset = ApiToken.objects.select_related("user").prefetch_related("servers")
    serializer_class = ApiTokenSerializer

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        given = ApiTokenCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        slugs = given.validated_data["servers"]
        usable = VirtualServer.objects.visible_to(self.principal, permissions.USE).filter(slug__in=slugs)
        servers = list(usable)
        unknown = sorted(set(slugs) - {server.slug for server in servers})
        if unknown:
            raise ValidationError({"servers": [f"Unknown server: {slug}" for slug in unknown]})
        try:
            token, raw = services.token_create(
                user=request.user,
                name=given.validated_data["name"],
                servers=servers,
                expires_days=given.validated_data.get("expires_days"),
            )
        except services.TokenError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        body = ApiTokenSerializer(token).data
        body["token"] = raw
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, token: ApiToken) -> None:
        services.token_revoke(token=token, actor=self.request.user)

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.token_revoke(token=self.get_object(), actor=request.user)
        return Response(ApiTokenSerializer(token).data)
