"""Shapes of the rules API, also used for the OpenAPI schema."""
from __future__ import annotations

from rest_framework import serializers


class ConditionCheckInputSerializer(serializers.Serializer):
    condition = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text='e.g. amount > 500 and country in ["NG"]')


class ConditionCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    reads = serializers.ListField(child=serializers.CharField(), help_text="Fields, features and model values it reads")
    lists = serializers.ListField(child=serializers.CharField(), help_text="Lists it names")


class BacktestRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(source="version.number")
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    rules = serializers.JSONField()
    figures = serializers.JSONField(allow_null=True, help_text="events, labeled, fraud, set, rules, by_day, examples")
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
