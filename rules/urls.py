from django.urls import path

from rules import apis, views

urlpatterns = [
    path("api/rules/check", apis.ConditionCheckApi.as_view(), name="api-rules-check"),
    path("api/rules/backtests/<int:run_id>", apis.BacktestRunApi.as_view(), name="api-rules-backtest"),
    path("rules/", views.rules_page, name="rules"),
    path("rules/draft/rules", views.rule_save, name="rules-save"),
    path("rules/draft/rules/delete", views.rule_delete, name="rules-delete"),
    path("rules/versions/<int:number>/<str:action>", views.version_action, name="rules-version-action"),
    path("rules/versions/<int:number>/backtest/", views.backtest_start, name="rules-backtest-start"),
    path("rules/rollback", views.rollback, name="rules-rollback"),
    path("rules/backtests/<int:run_id>/", views.backtest_page, name="rules-backtest"),
    path("lists/", views.lists_page, name="rules-lists"),
    path("lists/new", views.list_create, name="rules-list-create"),
    path("lists/<int:list_id>/", views.list_page, name="rules-list"),
    path("lists/<int:list_id>/entries", views.entry_add, name="rules-entry-add"),
    path("lists/<int:list_id>/entries/<int:entry_id>/remove", views.entry_remove, name="rules-entry-remove"),
    path("lists/<int:list_id>/upload", views.entries_upload, name="rules-entries-upload"),
    path("lists/<int:list_id>/download", views.entries_download, name="rules-entries-download"),
    path("lists/<int:list_id>/delete", views.list_delete, name="rules-list-delete"),
]
