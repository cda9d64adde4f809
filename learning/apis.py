"""The managers' model API: versions, retraining, promotion, rollback, shadow mode, drift alerts."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManager
from core.api import error_response
from learning import drift, lifecycle, selectors, services, tier_watch
from learning import serializers as s
from learning.models import DriftAlert, DriftCheck, TierAlert, TrainingRun
from scoring.models import ModelVersion
from scoring.registry import ModelUnavailable


def _version_or_404(version_id: int) -> ModelVersion | Response:
    version = ModelVersion.objects.filter(pk=version_id).first()
    return version or error_response("version_id", "not_found", f"no model version {version_id}", status.HTTP_404_NOT_FOUND)


class ModelsOverviewApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: s.ModelsOverviewSerializer}, summary="Model versions, training runs, drift")
    def get(self, request):
        return Response(s.ModelsOverviewSerializer(selectors.models_overview()).data)


class RetrainApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=None, responses={202: s.TrainingRunSerializer}, summary="Queue a retraining")
    def post(self, request):
        try:
            run = services.training_run_request(trigger=TrainingRun.Trigger.MANUAL, actor=request.user)
        except services.RetrainingBusy as exc:
            return error_response("body", "busy", str(exc), status.HTTP_409_CONFLICT)
        run.refresh_from_db()
        return Response(_run_body(run), status=status.HTTP_202_ACCEPTED)


def _run_body(run: TrainingRun) -> dict:
    return {**s.TrainingRunSerializer(run).data, "progress": selectors.training_run_progress(run),
            "verdict": selectors.training_run_verdict(run)}


class TrainingRunApi(APIView):
    """One retraining run with its progress and, once finished, the verdict: the models page
    polls it after "Retrain now"."""

    permission_classes = [IsManager]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="A retraining run: progress and verdict")
    def get(self, request, run_id: int):
        run = TrainingRun.objects.select_related("champion", "challenger", "requested_by").filter(pk=run_id).first()
        if run is None:
            return error_response("run_id", "not_found", f"no training run {run_id}", status.HTTP_404_NOT_FOUND)
        return Response(_run_body(run))


class PromoteApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=None, responses={200: s.ChampionSerializer}, summary="Make a version the champion")
    def post(self, request, version_id: int):
        version = _version_or_404(version_id)
        if isinstance(version, Response):
            return version
        if version.status == ModelVersion.Status.CHAMPION:
            return error_response("version_id", "already_champion", f"{version.name} is already the champion", 409)
        try:
            lifecycle.model_promote(version=version, actor=request.user)
        except ModelUnavailable as exc:
            return error_response("version_id", "unloadable", str(exc), status.HTTP_409_CONFLICT)
        return Response(s.ChampionSerializer(version).data)


class RollbackApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=None, responses={200: s.ChampionSerializer}, summary="Roll back to the previous champion")
    def post(self, request):
        try:
            version = lifecycle.model_rollback(actor=request.user)
        except lifecycle.NoEarlierChampion as exc:
            return error_response("body", "no_previous_champion", str(exc), status.HTTP_409_CONFLICT)
        except ModelUnavailable as exc:
            return error_response("body", "unloadable", str(exc), status.HTTP_409_CONFLICT)
        return Response(s.ChampionSerializer(version).data)


class ShadowApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=s.ShadowInputSerializer, responses={200: s.ModelVersionSerializer},
                   summary="Start or stop shadow scoring with a challenger")
    def post(self, request, version_id: int):
        data = s.ShadowInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = _version_or_404(version_id)
        if isinstance(version, Response):
            return version
        try:
            services.shadow_set(version=version, active=data.validated_data["active"], actor=request.user)
        except services.ShadowNotAllowed as exc:
            return error_response("version_id", "not_allowed", str(exc), status.HTTP_409_CONFLICT)
        row = next(v for v in selectors.models_overview()["versions"] if v["id"] == version.pk)
        return Response(s.ModelVersionSerializer(row).data)


class DriftAlertsApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(parameters=[s.DriftAlertsQuerySerializer], responses={200: s.DriftAlertsSerializer},
                   summary="Drift alerts (open by default) and the latest PSI check")
    def get(self, request):
        query = s.DriftAlertsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        alerts = DriftAlert.objects.select_related("model_version")
        if query.validated_data["status"] == "open":
            alerts = alerts.filter(acknowledged_at=None)
        body = {"alerts": list(alerts[:100]), "latest_check": DriftCheck.objects.select_related("model_version").first()}
        return Response(s.DriftAlertsSerializer(body).data)


class DriftAlertAcknowledgeApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=None, responses={200: s.DriftAlertSerializer}, summary="Acknowledge a drift alert")
    def post(self, request, alert_id: int):
        alert = DriftAlert.objects.select_related("model_version").filter(pk=alert_id).first()
        if alert is None:
            return error_response("alert_id", "not_found", f"no drift alert {alert_id}", status.HTTP_404_NOT_FOUND)
        if alert.acknowledged_at is None:
            drift.drift_alert_acknowledge(alert=alert, actor=request.user)
        return Response(s.DriftAlertSerializer(alert).data)


class TiersApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: s.TiersSerializer},
                   summary="The champion's live tier mix per hour, the capacity alert, re-cuts and a re-cut preview")
    def get(self, request):
        return Response(s.TiersSerializer(selectors.tiers_overview()).data)


class ScoresByReasonApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="Decisions of the last this many days (1–365, default 30)")],
        responses={200: OpenApiTypes.OBJECT},
        summary="How the model had scored the cases reviewers decided, per reason code (tier shares, median risk score)",
    )
    def get(self, request):
        raw = request.query_params.get("days", "30")
        if not raw.isdigit() or not 1 <= int(raw) <= 365:
            return error_response("days", "invalid", "must be a whole number of days from 1 to 365", status.HTTP_400_BAD_REQUEST)
        return Response(selectors.scores_by_reason(days=int(raw)))


class TierRecutApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=s.TierRecutInputSerializer, responses={201: s.TierCutSerializer},
                   summary="Re-cut the champion's thresholds from its recent live scores")
    def post(self, request):
        body = s.TierRecutInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            cut = tier_watch.tiers_recut(actor=request.user, days=body.validated_data["days"])
        except tier_watch.NotEnoughScores as exc:
            return error_response("days", "not_enough_scores", str(exc), status.HTTP_409_CONFLICT)
        return Response(s.TierCutSerializer(cut).data, status=status.HTTP_201_CREATED)


class TierAlertAcknowledgeApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=None, responses={200: s.TierAlertSerializer}, summary="Acknowledge a tier alert")
    def post(self, request, alert_id: int):
        alert = TierAlert.objects.select_related("model_version").filter(pk=alert_id).first()
        if alert is None:
            return error_response("alert_id", "not_found", f"no tier alert {alert_id}", status.HTTP_404_NOT_FOUND)
        if alert.acknowledged_at is None:
            tier_watch.tier_alert_acknowledge(alert=alert, actor=request.user)
        return Response(s.TierAlertSerializer(alert).data)
