"""Request and response shapes of the scoring API, also used for the OpenAPI schema."""
from __future__ import annotations

from rest_framework import serializers

from core import contract
from triage.models import Score, Tier


def _contract_field(field: contract.Field) -> serializers.Field:
    """The schema's description of one contract field (what /score checks is in scoring.validation)."""
    options = {"required": field.required, **({"help_text": field.help} if field.help else {})}
    if field.kind in ("id", "text", "country"):
        return serializers.CharField(max_length=field.max_length, **options)
    if field.kind == "time":
        return serializers.DateTimeField(**options)
    if field.kind == "money":
        return serializers.DecimalField(max_digits=14, decimal_places=2, min_value=field.low, **options)
    if field.kind == "number":
        return serializers.FloatField(min_value=field.low, max_value=field.high, **options)
    if field.kind == "currency":
        return serializers.CharField(min_length=3, max_length=3, **options)
    if field.kind == "choice":
        return serializers.ChoiceField(choices=list(field.choices), **options)
    if field.kind == "ip":
        return serializers.IPAddressField(**options)
    if field.kind == "mapping":
        return serializers.DictField(**options)
    raise ValueError(f"no schema for contract kind {field.kind!r}")


# The data contract, for the OpenAPI schema: one field per contract field, in its order.
EventSerializer = type("EventSerializer", (serializers.Serializer,), {
    "__doc__": "The data contract. Documentation only: /score validates with scoring.validation.",
    "__module__": __name__,
    **{field.name: _contract_field(field) for field in contract.FIELDS},
})


class RuleHitSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text='The rule\'s name, or "list:<name>" for a list')
    action = serializers.CharField()
    reason = serializers.CharField(help_text="In words, for the reviewer and the sender")


class ScoreResultSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    probability = serializers.FloatField(help_text="Estimated probability of fraud, 0–1")
    risk_score = serializers.IntegerField(help_text="0–100; 50+ is the medium tier, 80+ the high tier")
    tier = serializers.ChoiceField(choices=Tier.values)
    expected_loss = serializers.FloatField(help_text="probability × amount (or the default event value)")
    model_version = serializers.CharField(help_text="The model that made this score; fallback-rules-v1 when no model could be loaded")
    explanation_status = serializers.ChoiceField(choices=Score.ExplanationStatus.values)
    explanation_url = serializers.CharField()
    action = serializers.ChoiceField(
        choices=["block", "review", "allow", "tier_high", "tier_medium", "tier_low"], allow_null=True,
        help_text="What the team's lists and rules decided: block (decline it), review (hold it for a reviewer), "
                  "allow (let it through unreviewed) or a tier set by a rule; null when no list or rule decided",
    )
    rules = RuleHitSerializer(many=True, help_text="Every list and rule that hit, in the order they apply")
    duplicate = serializers.BooleanField(help_text="True when this event_id was already scored: the first result is returned")


class ScoreBatchResultSerializer(serializers.Serializer):
    results = ScoreResultSerializer(many=True)


class RegisterInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    webhook_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=200)
    contact = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_webhook_url(self, value: str) -> str:
        from webhooks.destinations import DestinationRefused, check_url

        if value:
            try:
                check_url(value, resolve_required=False)
            except DestinationRefused as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return value


class RegisterOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    api_key = serializers.CharField(help_text="Shown once. Send it as `Authorization: Bearer <key>`.")
    webhook_secret = serializers.CharField(help_text="Shown once. Webhook bodies are signed with HMAC-SHA256 using it.")


class ExplanationSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    status = serializers.CharField(help_text="One of: " + ", ".join(Score.ExplanationStatus.values))
    model_version = serializers.CharField()
    explanation = serializers.JSONField(allow_null=True)


class ScoreModeSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=["sync", "async"], required=False, default="sync",
        help_text="async: accept now (202), score on the workers, read the results from status_url",
    )


class ScoreJobAcceptedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField(help_text="queued")
    event_count = serializers.IntegerField()
    status_url = serializers.CharField(help_text="GET it (with your key) until status is done")


class ScoreJobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    event_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    results = ScoreResultSerializer(many=True, allow_null=True, help_text="In the order sent, once status is done")
