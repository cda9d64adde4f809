from django.urls import path

from learning import apis, views

urlpatterns = [
    path("models/", views.models_page, name="models"),
    path("api/models", apis.ModelsOverviewApi.as_view(), name="api-models"),
    path("api/models/retrain", apis.RetrainApi.as_view(), name="api-models-retrain"),
    path("api/models/runs/<int:run_id>", apis.TrainingRunApi.as_view(), name="api-models-run"),
    path("api/models/rollback", apis.RollbackApi.as_view(), name="api-models-rollback"),
    path("api/models/<int:version_id>/promote", apis.PromoteApi.as_view(), name="api-models-promote"),
    path("api/models/<int:version_id>/shadow", apis.ShadowApi.as_view(), name="api-models-shadow"),
    path("api/models/tiers", apis.TiersApi.as_view(), name="api-models-tiers"),
    path("api/models/by-reason", apis.ScoresByReasonApi.as_view(), name="api-models-by-reason"),
    path("api/models/tiers/recut", apis.TierRecutApi.as_view(), name="api-models-tiers-recut"),
    path("api/models/tiers/alerts/<int:alert_id>/acknowledge", apis.TierAlertAcknowledgeApi.as_view(),
         name="api-tier-ack"),
    path("api/drift/alerts", apis.DriftAlertsApi.as_view(), name="api-drift-alerts"),
    path("api/drift/alerts/<int:alert_id>/acknowledge", apis.DriftAlertAcknowledgeApi.as_view(), name="api-drift-ack"),
]
