from django.urls import path

from audit import apis

urlpatterns = [
    path("api/audit", apis.AuditApi.as_view(), name="api-audit"),
]
