"""The webhook delivery log for managers."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManager
from core.api import ErrorSerializer
from webhooks import serializers as s
from webhooks.selectors import delivery_list


class DeliveryListApi(APIView):
    """Latest webhook callbacks with every attempt (status code or error, duration)."""

    permission_classes = [IsManager]

    @extend_schema(
        parameters=[s.DeliveryFilterSerializer],
        responses={200: s.DeliveryListSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
        summary="Webhook delivery log",
    )
    def get(self, request):
        filters = s.DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        deliveries = delivery_list(status=data.get("status"), client_id=data.get("client"), limit=data["limit"])
        return Response(s.DeliveryListSerializer({"results": deliveries}).data)
