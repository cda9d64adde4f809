from django.urls import path

from scoring import apis, views

urlpatterns = [
    path("register", apis.RegisterApi.as_view(), name="register"),
    path("score", apis.ScoreApi.as_view(), name="score"),
    path("api/scores/<int:transaction_id>/explanation", apis.ExplanationApi.as_view(), name="score-explanation"),
    path("api/score-jobs/<uuid:job_id>", apis.ScoreJobApi.as_view(), name="score-job"),
    path("models/<str:name>/report/", views.model_report, name="model-report"),
    path("models/<str:name>/report/<str:filename>", views.model_report, name="model-report-file"),
]
