from __future__ import annotations

from rest_framework import serializers

from tokens.models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer):
    display = serializers.SerializerMethodField(help_text="The recognisable start of the token; the rest is secret.")
    servers = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    user = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "display", "user", "servers", "expires_at", "revoked_at", "last_used_at", "created_at"]
        read_only_fields = fields

    def get_display(self, token: ApiToken) -> str:
        return f"{ApiToken.PREFIX}{token.lookup}…"


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    servers = serializers.ListField(child=serializers.SlugField(max_length=64), required=False, default=list)
    expires_days = serializers.IntegerField(required=False, min_value=1, max_value=3650, allow_null=True)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once, now. Store it; it cannot be shown again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
