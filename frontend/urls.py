from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.forms import GuardedAuthenticationForm
from frontend import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=GuardedAuthenticationForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("queue/", views.queue, name="queue"),
    path("cases/<int:transaction_id>/", views.case, name="case"),
    path("cases/<int:transaction_id>/file", views.case_file, name="case-file"),
    path("reasons/", views.dispositions, name="dispositions"),
    path("audit/", views.audit, name="audit"),
    path("favicon.ico", views.favicon, name="favicon"),
]
