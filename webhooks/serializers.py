from __future__ import annotations

from rest_framework import serializers

from webhooks.models import WebhookAttempt, WebhookDelivery


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "attempted_at", "status_code", "error", "duration_ms"]


class DeliverySerializer(serializers.ModelSerializer):
    client = serializers.CharField(source="client.name", allow_null=True, default=None, help_text="Null for the operators' own alerts (drift)")
    attempt_log = AttemptSerializer(many=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "client", "event", "url", "status", "attempts", "created_at", "last_attempt_at",
                  "delivered_at", "body", "attempt_log"]


class DeliveryFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)
    client = serializers.IntegerField(required=False, min_value=1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


class DeliveryListSerializer(serializers.Serializer):
    results = DeliverySerializer(many=True)
