"""The reviewers' API: the queue and decisions. Session login + reviewer role."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsReviewer
from triage import selectors
from triage.models import Score
from triage.serializers import DecisionInputSerializer, DecisionOutputSerializer, QueueQuerySerializer, QueueSerializer
from triage.services import DecisionConflict, decision_record


class QueueApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[QueueQuerySerializer],
        responses={200: QueueSerializer},
        summary="Open cases of a tier, highest expected loss first, with counts per tier",
    )
    def get(self, request):
        query = QueueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        body = {
            "counts": selectors.queue_counts(),
            "tier": params["tier"],
            "items": selectors.queue_list(tier=params["tier"], limit=params["limit"], offset=params["offset"]),
        }
        return Response(QueueSerializer(body).data)


class DecisionApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=DecisionInputSerializer,
        responses={201: DecisionOutputSerializer},
        parameters=[OpenApiParameter("transaction_id", int, OpenApiParameter.PATH)],
        summary="Clear, flag or escalate a case",
    )
    def post(self, request, transaction_id: int):
        data = DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not Score.objects.filter(transaction_id=transaction_id).exists():
            return Response(
                {"errors": [{"field": "transaction_id", "code": "not_found", "message": "no such case"}]},
                status=status.HTTP_404_NOT_FOUND,
            )
        try:
            decision = decision_record(transaction_id=transaction_id, reviewer=request.user, **data.validated_data)
        except DecisionConflict as exc:
            return Response(
                {"errors": [{"field": "expected_status", "code": "conflict", "message": str(exc)}]},
                status=status.HTTP_409_CONFLICT,
            )
        body = {
            "id": decision.pk,
            "transaction_id": transaction_id,
            "verdict": decision.verdict,
            "note": decision.note,
            "reviewer": request.user.get_username(),
            "created_at": decision.created_at,
        }
        return Response(DecisionOutputSerializer(body).data, status=status.HTTP_201_CREATED)
