from django.urls import path

from webhooks import apis, views

urlpatterns = [
    path("api/webhooks/deliveries", apis.DeliveryListApi.as_view(), name="api-webhook-deliveries"),
    path("webhooks/", views.delivery_log, name="webhook-deliveries"),
]
