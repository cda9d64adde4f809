from __future__ import annotations

from rest_framework import serializers


class TrainingRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.CharField()
    status = serializers.CharField()
    requested_by = serializers.SerializerMethodField()
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    champion = serializers.SerializerMethodField()
    challenger = serializers.SerializerMethodField()
    labeled_rows = serializers.IntegerField()
    decisions_used = serializers.IntegerField()
    holdout = serializers.JSONField()
    champion_metrics = serializers.JSONField()
    challenger_metrics = serializers.JSONField()
    reason = serializers.CharField()

    def get_requested_by(self, run) -> str | None:
        return run.requested_by.get_username() if run.requested_by else None

    def get_champion(self, run) -> str | None:
        return run.champion.name if run.champion else None

    def get_challenger(self, run) -> str | None:
        return run.challenger.name if run.challenger else None


class ModelVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    algorithm = serializers.CharField()
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    metrics = serializers.JSONField(help_text="Metrics on the version's own test period")
    shadow = serializers.BooleanField(help_text="Scoring live traffic in shadow mode")
    shadow_comparison = serializers.JSONField(allow_null=True)


class DriftCheckSerializer(serializers.Serializer):
    model_version = serializers.CharField(source="model_version.name")
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    rows = serializers.IntegerField()
    psi = serializers.JSONField()
    score_psi = serializers.FloatField(allow_null=True)
    max_psi = serializers.FloatField()
    threshold = serializers.FloatField()
    created_at = serializers.DateTimeField()


class DriftAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_version = serializers.CharField(source="model_version.name")
    drifted = serializers.JSONField(help_text="PSI of each feature (and 'score') above the threshold")
    max_psi = serializers.FloatField()
    threshold = serializers.FloatField()
    retraining_requested = serializers.BooleanField()
    raised_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)


class ModelsOverviewSerializer(serializers.Serializer):
    versions = ModelVersionSerializer(many=True)
    runs = TrainingRunSerializer(many=True)
    alerts = DriftAlertSerializer(many=True)
    latest_check = DriftCheckSerializer(allow_null=True)
    decisions_since_last_run = serializers.IntegerField()
    can_roll_back = serializers.BooleanField()


class DriftAlertsSerializer(serializers.Serializer):
    alerts = DriftAlertSerializer(many=True)
    latest_check = DriftCheckSerializer(allow_null=True)


class DriftAlertsQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["open", "all"], default="open")


class ShadowInputSerializer(serializers.Serializer):
    active = serializers.BooleanField()


class ChampionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
