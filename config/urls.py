from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import health
from scoring import apis as scoring_apis
from scoring import views as scoring_views
from triage import apis as triage_apis

api_patterns = [
    path("register", scoring_apis.RegisterApi.as_view(), name="register"),
    path("score", scoring_apis.ScoreApi.as_view(), name="score"),
    path("api/scores/<int:transaction_id>/explanation", scoring_apis.ExplanationApi.as_view(), name="score-explanation"),
    path("api/queue", triage_apis.QueueApi.as_view(), name="api-queue"),
    path("api/cases/<int:transaction_id>/decision", triage_apis.DecisionApi.as_view(), name="api-decision"),
]

urlpatterns = [
    *api_patterns,
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("models/<str:name>/report/", scoring_views.model_report, name="model-report"),
    path("models/<str:name>/report/<str:filename>", scoring_views.model_report, name="model-report-file"),
    path("", include("frontend.urls")),
]
