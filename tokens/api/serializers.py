from __future__ import annotations

from rest_framework import serializers

from teams import roles
from tokens.models import ApiToken, TokenUsage


class ApiTokenSerializer(serializers.ModelSerializer):
    display = serializers.SerializerMethodField(help_text="The recognisable start of the token; the rest is secret.")
    servers = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    user = serializers.EmailField(source="user.email", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = ApiToken
        fields = [
            "id", "name", "display", "user", "team", "servers", "permissions", "teams", "ip_ranges", "time_windows",
            "quota_calls", "quota_period_seconds", "expires_at", "revoked_at", "last_used_at", "created_at",
        ]
        read_only_fields = fields

    def get_display(self, token: ApiToken) -> str:
        return f"{ApiToken.PREFIX}{token.lookup}…"


class TimeWindowSerializer(serializers.Serializer):
    start = serializers.RegexField(r"^([01]\d|2[0-3]):[0-5]\d$", help_text="HH:MM, UTC")
    end = serializers.RegexField(r"^([01]\d|2[0-3]):[0-5]\d$", help_text="HH:MM, UTC; before start spans midnight")
    days = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), required=False,
                                 help_text="0 = Monday; omitted: every day")


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    servers = serializers.ListField(child=serializers.SlugField(max_length=64), required=False, default=list)
    expires_days = serializers.IntegerField(required=False, min_value=1, max_value=3650, allow_null=True)
    team = serializers.IntegerField(required=False, allow_null=True, help_text="Create a team token for this team.")
    teams = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_null=True,
        help_text="Team claim. Omitted: your teams now (platform admin: unrestricted). null or []: public only.",
    )
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(roles.PERMISSIONS)), required=False, allow_null=True,
        help_text="At most what you hold now. Omitted: no permission limit.",
    )
    ip_ranges = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    time_windows = TimeWindowSerializer(many=True, required=False, default=list)
    quota_calls = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    quota_period_seconds = serializers.IntegerField(required=False, min_value=60, max_value=31 * 86400, default=86400)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once, now. Store it; it cannot be shown again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class TokenUsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = TokenUsage
        fields = ["id", "token", "jti", "user_id", "method", "endpoint", "ip", "user_agent", "latency_ms", "outcome",
                  "reason", "status", "created_at"]
        read_only_fields = fields
