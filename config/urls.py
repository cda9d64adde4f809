from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import health, metrics
from scoring import apis as scoring_apis
from scoring import views as scoring_views
from triage import apis as triage_apis

api_patterns = [
    path("register", scoring_apis.RegisterApi.as_view(), name="register"),
    path("score", scoring_apis.ScoreApi.as_view(), name="score"),
    path("api/scores/<int:transaction_id>/explanation", scoring_apis.ExplanationApi.as_view(), name="score-explanation"),
    path("api/queue", triage_apis.QueueApi.as_view(), name="api-queue"),
    path("api/cases/<int:transaction_id>/decision", triage_apis.DecisionApi.as_view(), name="api-decision"),
    path("api/queue/next", triage_apis.NextCaseApi.as_view(), name="api-queue-next"),
    path("api/cases/bulk", triage_apis.BulkDecisionApi.as_view(), name="api-cases-bulk"),
    path("api/cases/<int:transaction_id>", triage_apis.CaseApi.as_view(), name="api-case"),
    path("api/cases/<int:transaction_id>/history", triage_apis.CaseHistoryApi.as_view(), name="api-case-history"),
    path("api/cases/<int:transaction_id>/network", triage_apis.CaseNetworkApi.as_view(), name="api-case-network"),
    path("api/cases/<int:transaction_id>/claim", triage_apis.ClaimApi.as_view(), name="api-case-claim"),
    path("api/cases/<int:transaction_id>/undo", triage_apis.UndoApi.as_view(), name="api-case-undo"),
    path("api/cases/<int:transaction_id>/comments", triage_apis.CaseCommentsApi.as_view(), name="api-case-comments"),
    path("api/cases/<int:transaction_id>/comments/<int:comment_id>", triage_apis.CaseCommentApi.as_view(), name="api-case-comment"),
    path("api/score-jobs/<uuid:job_id>", scoring_apis.ScoreJobApi.as_view(), name="score-job"),
]

urlpatterns = [
    *api_patterns,
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", include("learning.urls")),
    path("admin/", admin.site.urls),
    path("models/<str:name>/report/", scoring_views.model_report, name="model-report"),
    path("models/<str:name>/report/<str:filename>", scoring_views.model_report, name="model-report-file"),
    path("", include("frontend.urls")),
    path("", include("insights.urls")),
    path("", include("webhooks.urls")),
    path("", include("rules.urls")),
    path("", include("accounts.urls")),
    path("", include("audit.urls")),
]
