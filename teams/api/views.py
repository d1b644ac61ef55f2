from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from teams import permissions, services
from teams.api import serializers
from teams.models import Invitation, Membership, PlatformRole, Role, Team
from teams.scoping import NotServerScoped, ScopedViewSet, principal_from_request


def _refused(exc: services.TeamError):
    return ValidationError({"detail": str(exc)})


class TeamViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, mixins.DestroyModelMixin):
    """Your teams. Creating makes you the owner; renaming and deleting need teams.manage; ``leave`` leaves."""

    queryset = Team.objects.prefetch_related("memberships")
    serializer_class = serializers.TeamSerializer

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "principal": self.principal}

    def perform_create(self, serializer):
        try:
            serializer.instance = services.team_create(
                name=serializer.validated_data["name"], creator=self.request.user,
                slug=serializer.validated_data.get("slug"),
            )
        except services.TeamError as exc:
            raise _refused(exc) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = services.team_update(
                team=serializer.instance, actor=self.request.user,
                name=serializer.validated_data.get("name", serializer.instance.name),
            )
        except services.TeamError as exc:
            raise _refused(exc) from None

    def perform_destroy(self, team):
        try:
            services.team_delete(team=team, actor=self.request.user)
        except services.TeamError as exc:
            raise _refused(exc) from None

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def leave(self, request, pk=None):
        # Leaving needs membership, not teams.manage: look the team up among those the caller may view.
        # An id that is not a number is missing too (404), not a database error.
        team = get_object_or_404(Team.objects.visible_to(self.principal, permissions.VIEW), pk=pk)
        membership = Membership.objects.filter(team=team, user=request.user).first()
        if membership is None:
            raise NotFound()
        try:
            services.membership_remove(membership=membership, actor=request.user)
        except services.TeamError as exc:
            raise _refused(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                        mixins.DestroyModelMixin):
    """Members of your teams. Changing roles and removing members need teams.manage in the team."""

    queryset = Membership.objects.select_related("team", "user", "custom_role")
    serializer_class = serializers.MembershipSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        team = self.request.query_params.get("team")
        return queryset.filter(team_id=team) if team and team.isdigit() else queryset

    def perform_update(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.membership_update(
                membership=serializer.instance, actor=self.request.user, role=data.get("role"),
                custom_role=data.get("custom_role"), set_custom_role="custom_role" in data,
            )
        except services.TeamError as exc:
            raise _refused(exc) from None

    def perform_destroy(self, membership):
        try:
            services.membership_remove(membership=membership, actor=self.request.user)
        except services.TeamError as exc:
            raise _refused(exc) from None


class InvitationViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        mixins.DestroyModelMixin):
    """Invitations to teams you manage; the token is returned once, by create. ``accept`` joins a team."""

    queryset = Invitation.objects.select_related("team", "invited_by")
    serializer_class = serializers.InvitationSerializer

    def get_serializer_class(self):
        return serializers.InvitationAcceptSerializer if self.action == "accept" else super().get_serializer_class()

    @extend_schema(request=serializers.InvitationSerializer, responses={201: serializers.InvitationCreatedSerializer})
    def create(self, request, *args, **kwargs):
        given = serializers.InvitationSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        team = given.validated_data["team"]
        # Forbidden looks like missing: a team you do not manage is an unknown team.
        if not Team.objects.visible_to(self.principal, permissions.CHANGE).filter(pk=team.pk).exists():
            raise ValidationError({"team": ["Unknown team."]})
        try:
            invitation, raw = services.invitation_create(
                team=team, email=given.validated_data["email"], role=given.validated_data.get("role", "developer"),
                actor=request.user,
            )
        except services.TeamError as exc:
            raise _refused(exc) from None
        body = serializers.InvitationSerializer(invitation).data
        body["token"] = raw
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, invitation):
        services.invitation_revoke(invitation=invitation, actor=self.request.user)

    @extend_schema(request=serializers.InvitationAcceptSerializer, responses={201: serializers.MembershipSerializer})
    @action(detail=False, methods=["post"], permission_classes=[IsAuthenticated, NotServerScoped])
    def accept(self, request):
        given = serializers.InvitationAcceptSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            membership = services.invitation_accept(raw=given.validated_data["token"], user=request.user)
        except services.TeamError as exc:
            raise _refused(exc) from None
        return Response(serializers.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class RoleViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, mixins.DestroyModelMixin):
    """Custom team roles: everyone may read them; admin.role_management changes them."""

    queryset = Role.objects.all()
    serializer_class = serializers.RoleSerializer

    def _save(self, serializer, role=None):
        data = serializer.validated_data
        try:
            serializer.instance = services.role_save(
                actor=self.request.user, role=role,
                name=data.get("name", role.name if role else ""),
                permissions=data.get("permissions", role.permissions if role else []),
                description=data.get("description", role.description if role else ""),
            )
        except services.TeamError as exc:
            raise _refused(exc) from None

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, role):
        try:
            services.role_delete(role=role, actor=self.request.user)
        except services.TeamError as exc:
            raise _refused(exc) from None


class UserViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin):
    """Users: platform admins only (admin.user_management). ``platform-role`` sets admin / viewer / none."""

    queryset = get_user_model().objects.select_related("platform_role")
    serializer_class = serializers.UserSerializer

    def perform_update(self, serializer):
        try:
            serializer.instance = services.platform_user_update(
                user=serializer.instance, actor=self.request.user, **serializer.validated_data
            )
        except services.TeamError as exc:
            raise _refused(exc) from None

    @extend_schema(request={"application/json": {"type": "object", "properties": {"role": {"type": "string",
                   "nullable": True, "enum": [*PlatformRole.Name.values, None]}}}},
                   responses={200: serializers.UserSerializer})
    @action(detail=True, methods=["post"], url_path="platform-role")
    def platform_role(self, request, pk=None):
        user = self.get_object()
        try:
            services.platform_role_set(user=user, role=request.data.get("role"), actor=request.user)
        except services.TeamError as exc:
            raise _refused(exc) from None
        return Response(serializers.UserSerializer(self.get_queryset().get(pk=user.pk)).data)


class MeView(APIView):
    """Who you are, as the gateway sees this request's credential."""

    permission_classes = [IsAuthenticated, NotServerScoped]

    @extend_schema(responses={200: serializers.MeSerializer})
    def get(self, request):
        principal = principal_from_request(request)
        memberships = Membership.objects.filter(user_id=principal.user_id).select_related("team", "custom_role")
        teams = [
            {"id": m.team_id, "slug": m.team.slug, "name": m.team.name, "role": m.role,
             "custom_role": m.custom_role.name if m.custom_role else None, "personal": m.team.is_personal,
             "permissions": sorted(principal.team_permissions.get(m.team_id, ()))}
            for m in memberships
        ]
        token = None
        if principal.token_id is not None or principal.jti:
            token = {
                "id": principal.token_id,
                "servers": sorted(principal.server_ids) if principal.server_ids is not None else None,
                "permissions": sorted(principal.permission_scope) if principal.permission_scope is not None else None,
                "teams": sorted(principal.team_scope) if principal.team_scope is not None else None,
            }
        return Response({
            "id": principal.user_id, "email": principal.email, "is_platform_admin": principal.is_superuser,
            "platform_permissions": sorted(principal.platform_permissions), "teams": teams, "token": token,
        })


