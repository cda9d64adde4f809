from django.urls import path

from insights import apis, views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("api/insights/trends", apis.TrendsApi.as_view(), name="api-insights-trends"),
    path("api/insights/heatmap", apis.HeatmapApi.as_view(), name="api-insights-heatmap"),
    path("api/insights/roi", apis.RoiApi.as_view(), name="api-insights-roi"),
    path("api/insights/roi/assumptions", apis.RoiAssumptionsApi.as_view(), name="api-insights-roi-assumptions"),
    path("api/insights/model-health", apis.ModelHealthApi.as_view(), name="api-insights-model-health"),
    path("api/insights/team", apis.TeamApi.as_view(), name="api-insights-team"),
    path("api/insights/accounts/segments", apis.SegmentsApi.as_view(), name="api-insights-segments"),
    path("api/insights/offboarding", apis.OffboardingApi.as_view(), name="api-insights-offboarding"),
    path("api/insights/offboarding.csv", apis.OffboardingCsvApi.as_view(), name="api-insights-offboarding-csv"),
    path("api/insights/accounts/<str:account_id>/decision", apis.AccountDecisionApi.as_view(), name="api-insights-account-decision"),
]
