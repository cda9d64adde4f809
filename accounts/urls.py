from django.urls import path

from accounts import views

urlpatterns = [
    path("keys/", views.key_list, name="keys"),
    path("keys/register", views.key_create, name="key-create"),
    path("keys/<int:client_id>/rotate", views.key_rotate, name="key-rotate"),
    path("keys/<int:client_id>/revoke", views.key_revoke, name="key-revoke"),
    path("keys/unlock-login", views.login_unlock_view, name="login-unlock"),
]
