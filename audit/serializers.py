from __future__ import annotations

from rest_framework import serializers

from audit.selectors import AUDIT_HOLDS, AuditFilters
from config.paging import MAX_PAGE


class AuditQuerySerializer(serializers.Serializer):
    actor = serializers.CharField(max_length=150, required=False, allow_blank=True, help_text="A username or API client name")
    action = serializers.CharField(max_length=40, required=False, allow_blank=True)
    object_type = serializers.CharField(max_length=40, required=False, allow_blank=True)
    object_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    page = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=200, default=50)
    holds = serializers.ChoiceField(
        choices=AUDIT_HOLDS, default="all",
        help_text="collapsed: each stretch of claims and releases by one person on one case is one entry "
                  "carrying `hold` (not with an `action` filter); all: every entry",
    )

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "must be on or after date_from"})
        return attrs

    def filters(self) -> AuditFilters:
        data = self.validated_data
        return AuditFilters(
            **{k: data.get(k, "").strip() for k in ("actor", "action", "object_type", "object_id")},
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


class AuditDetailLineSerializer(serializers.Serializer):
    field = serializers.CharField()
    value = serializers.CharField(required=False, help_text="For a plain fact")
    before = serializers.CharField(required=False, help_text="For a change: what it was")
    after = serializers.CharField(required=False, help_text="For a change: what it became")


class AuditHoldSerializer(serializers.Serializer):
    claimed_at = serializers.DateTimeField(allow_null=True)
    how = serializers.CharField(help_text="open (the case page) or next (the Next button)")
    released_at = serializers.DateTimeField(allow_null=True, help_text="Null while held or when a decision ended it")
    entries = serializers.IntegerField(help_text="Claim and release entries this hold stands for")


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object_label = serializers.CharField(help_text="The object in words: case 123, list blocked-ips")
    url = serializers.CharField(allow_null=True, help_text="The page showing the object, if there is one")
    detail = serializers.JSONField()
    detail_lines = AuditDetailLineSerializer(many=True, help_text="The detail as readable lines, values as text")
    hold = AuditHoldSerializer(allow_null=True, help_text="Set on a folded hold (holds=collapsed)")


class AuditPageSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    pages = serializers.IntegerField()
    holds = serializers.CharField(help_text="collapsed or all: how `items` came")
    holds_folded = serializers.IntegerField(help_text="Claim and release entries folded into the holds shown")
    items = AuditEntrySerializer(many=True)
    actions = serializers.ListField(child=serializers.CharField())
