"""The audit log over the API (managers, session login)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManager
from audit import selectors
from audit import serializers as s


class AuditApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        parameters=[s.AuditQuerySerializer], responses={200: s.AuditPageSerializer},
        summary="The audit log, newest first, filtered and paginated (managers)",
    )
    def get(self, request):
        query = s.AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        page = selectors.audit_list(
            filters=query.filters(), page=params["page"], page_size=params["page_size"], holds=params["holds"]
        )
        return Response(s.AuditPageSerializer(page).data)
