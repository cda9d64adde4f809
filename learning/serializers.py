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


class TierHourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    events = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()


class TierAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_version = serializers.CharField(source="model_version.name")
    hour = serializers.DateTimeField()
    events = serializers.IntegerField()
    high = serializers.IntegerField()
    capacity_per_day = serializers.IntegerField()
    hours_over = serializers.IntegerField()
    raised_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)


class TierCutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_version = serializers.CharField(source="model_version.name")
    before = serializers.JSONField()
    after = serializers.JSONField()
    scores = serializers.IntegerField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    high_per_day_before = serializers.FloatField()
    high_per_day_after = serializers.FloatField()
    capacity_per_day = serializers.IntegerField()
    made_by = serializers.CharField(source="made_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class TierPreviewSerializer(serializers.Serializer):
    before = serializers.JSONField()
    after = serializers.JSONField()
    scores = serializers.IntegerField()
    days = serializers.FloatField()
    high_per_day_before = serializers.FloatField()
    high_per_day_after = serializers.FloatField()
    medium_per_day_after = serializers.FloatField()


class TiersSerializer(serializers.Serializer):
    model_version = serializers.CharField(allow_null=True)
    capacity_per_day = serializers.IntegerField()
    alert_multiple = serializers.FloatField()
    thresholds = serializers.JSONField(allow_null=True, help_text="the champion's current {medium, high}")
    bands = serializers.JSONField(allow_null=True, help_text="what each tier meant on the test period: precision, share")
    hours = TierHourSerializer(many=True)
    alert = TierAlertSerializer(allow_null=True)
    cuts = TierCutSerializer(many=True)
    preview = TierPreviewSerializer(allow_null=True)
    preview_unavailable = serializers.CharField(allow_null=True)


class TierRecutInputSerializer(serializers.Serializer):
    days = serializers.FloatField(min_value=1 / 24, max_value=90, default=7.0,
                                  help_text="cut on the champion's live scores of this many recent days")
