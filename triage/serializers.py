from __future__ import annotations

from rest_framework import serializers

from triage.models import Decision, Score, Tier


class QueueQuerySerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=Tier.choices, default=Tier.HIGH)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    offset = serializers.IntegerField(min_value=0, default=0)


class QueueItemSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    event_id = serializers.CharField()
    account_id = serializers.CharField()
    timestamp = serializers.DateTimeField()
    event_type = serializers.CharField()
    amount = serializers.FloatField(allow_null=True)
    currency = serializers.CharField()
    probability = serializers.FloatField()
    risk_score = serializers.IntegerField()
    tier = serializers.CharField()
    expected_loss = serializers.FloatField()
    model_version = serializers.CharField()
    review_status = serializers.CharField()
    explanation_status = serializers.CharField()


class QueueSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    tier = serializers.CharField()
    items = QueueItemSerializer(many=True)


class DecisionInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Decision.Verdict.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    expected_status = serializers.ChoiceField(
        choices=Score.ReviewStatus.choices,
        required=False,
        help_text="The case status you saw; a different current status answers 409 instead of overwriting",
    )


class DecisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction_id = serializers.IntegerField()
    verdict = serializers.CharField()
    note = serializers.CharField()
    reviewer = serializers.CharField()
    created_at = serializers.DateTimeField()
