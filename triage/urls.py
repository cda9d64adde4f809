from django.urls import path

from triage import apis

urlpatterns = [
    path("api/queue", apis.QueueApi.as_view(), name="api-queue"),
    path("api/cases/<int:transaction_id>/decision", apis.DecisionApi.as_view(), name="api-decision"),
    path("api/queue/next", apis.NextCaseApi.as_view(), name="api-queue-next"),
    path("api/cases/bulk", apis.BulkDecisionApi.as_view(), name="api-cases-bulk"),
    path("api/cases/<int:transaction_id>", apis.CaseApi.as_view(), name="api-case"),
    path("api/cases/<int:transaction_id>/history", apis.CaseHistoryApi.as_view(), name="api-case-history"),
    path("api/cases/<int:transaction_id>/network", apis.CaseNetworkApi.as_view(), name="api-case-network"),
    path("api/cases/<int:transaction_id>/claim", apis.ClaimApi.as_view(), name="api-case-claim"),
    path("api/cases/<int:transaction_id>/undo", apis.UndoApi.as_view(), name="api-case-undo"),
    path("api/cases/<int:transaction_id>/comments", apis.CaseCommentsApi.as_view(), name="api-case-comments"),
    path("api/cases/<int:transaction_id>/comments/<int:comment_id>", apis.CaseCommentApi.as_view(), name="api-case-comment"),
    path("api/cases/<int:transaction_id>/network/decision", apis.RingDecisionApi.as_view(), name="api-case-ring-decision"),
    path("api/cases/<int:transaction_id>/assign", apis.AssignApi.as_view(), name="api-case-assign"),
    path("api/cases/<int:transaction_id>/snooze", apis.SnoozeApi.as_view(), name="api-case-snooze"),
    path("api/reviewers", apis.ReviewersApi.as_view(), name="api-reviewers"),
    path("api/me/shift", apis.ShiftApi.as_view(), name="api-me-shift"),
    path("api/dispositions", apis.DispositionsApi.as_view(), name="api-dispositions"),
    path("api/dispositions/<slug:code>", apis.DispositionApi.as_view(), name="api-disposition"),
]
