from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from teams import roles
from teams.models import Invitation, Membership, Role, Team


class TeamSerializer(serializers.ModelSerializer):
    is_personal = serializers.BooleanField(read_only=True)
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "is_personal", "my_role", "created_at"]
        read_only_fields = ["id", "is_personal", "my_role", "created_at"]
        extra_kwargs = {"slug": {"required": False}}

    def get_my_role(self, team: Team) -> str | None:
        principal = self.context.get("principal")
        if principal is None:
            return None
        return next((m.role for m in team.memberships.all() if m.user_id == principal.user_id), None)


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    custom_role = serializers.SlugRelatedField(
        slug_field="name", queryset=Role.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Membership
        fields = ["id", "team", "user", "role", "custom_role", "created_at"]
        read_only_fields = ["id", "team", "user", "created_at"]


class InvitationSerializer(serializers.ModelSerializer):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all())
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True)
    is_pending = serializers.BooleanField(read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "team", "email", "role", "invited_by", "expires_at", "accepted_at", "revoked_at",
                  "is_pending", "created_at"]
        read_only_fields = ["id", "invited_by", "expires_at", "accepted_at", "revoked_at", "is_pending", "created_at"]


class InvitationCreatedSerializer(InvitationSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once: send it to the invitee.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "token"]


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=128)


class RoleSerializer(serializers.ModelSerializer):
    permissions = serializers.ListField(child=serializers.ChoiceField(choices=sorted(roles.PERMISSIONS)))

    class Meta:
        model = Role
        fields = ["id", "name", "description", "permissions", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class UserSerializer(serializers.ModelSerializer):
    platform_role = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "email", "full_name", "is_active", "is_staff", "is_superuser", "platform_role", "date_joined"]
        read_only_fields = ["id", "email", "is_superuser", "platform_role", "date_joined"]

    def get_platform_role(self, user) -> str | None:
        role = getattr(user, "platform_role", None)
        return role.role if role is not None else None


class UserCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField(max_length=150, required=False, default="")
    password = serializers.CharField(write_only=True, required=False, allow_blank=True)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    is_platform_admin = serializers.BooleanField()
    platform_permissions = serializers.ListField(child=serializers.CharField())
    teams = serializers.ListField(child=serializers.DictField())
    token = serializers.DictField(allow_null=True)
