from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from catalog.models import VirtualServer
from teams import permissions
from teams.models import Team
from teams.scoping import ScopedViewSet
from tokens import services
from tokens.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    TokenUsageSerializer,
)
from tokens.models import ApiToken, TokenUsage


class ApiTokenViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    """Your API tokens (and your teams' tokens where you manage them). The secret is returned once, by create;
    DELETE or ``revoke`` revokes (rows are kept). Scopes only narrow what the token's user may do."""

    queryset = ApiToken.objects.select_related("user", "team").prefetch_related("servers")
    serializer_class = ApiTokenSerializer

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        given = ApiTokenCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        slugs = data["servers"]
        usable = VirtualServer.objects.visible_to(self.principal, permissions.USE).filter(slug__in=slugs)
        servers = list(usable)
        unknown = sorted(set(slugs) - {server.slug for server in servers})
        if unknown:
            raise ValidationError({"servers": [f"Unknown server: {slug}" for slug in unknown]})
        team = None
        if data.get("team") is not None:
            team = Team.objects.visible_to(self.principal).filter(pk=data["team"]).first()
            if team is None:
                raise ValidationError({"team": ["Unknown team."]})
        extra = {"teams": data["teams"]} if "teams" in request.data else {}
        try:
            token, raw = services.token_create(
                user=request.user,
                name=data["name"],
                servers=servers,
                expires_days=data.get("expires_days"),
                team=team,
                permissions=data.get("permissions"),
                ip_ranges=data["ip_ranges"],
                time_windows=[dict(window) for window in data["time_windows"]],
                quota_calls=data.get("quota_calls"),
                quota_period_seconds=data["quota_period_seconds"],
                **extra,
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

    @extend_schema(responses={200: TokenUsageSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def usage(self, request, pk=None):
        token = self.get_object()
        page = self.paginate_queryset(TokenUsage.objects.filter(token=token))
        return self.get_paginated_response(TokenUsageSerializer(page, many=True).data)
