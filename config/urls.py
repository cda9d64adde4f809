from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import health, metrics

urlpatterns = [
    path("", include("scoring.urls")),
    path("", include("triage.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", include("learning.urls")),
    path("admin/", admin.site.urls),
    path("", include("frontend.urls")),
    path("", include("insights.urls")),
    path("", include("webhooks.urls")),
    path("", include("rules.urls")),
    path("", include("accounts.urls")),
    path("", include("audit.urls")),
]
