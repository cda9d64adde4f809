"""The managers' API: trends, heatmap, ROI, model health, team, account segments, off-boarding."""
from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManager
from core.api import error_response
from insights import selectors
from insights.accounts import UnknownAccount, account_decision_record
from insights.periods import period_resolve
from insights.serializers import (
    AccountDecisionSerializer,
    OffboardingQuerySerializer,
    PeriodQuerySerializer,
    RoiAssumptionsSerializer,
)
from insights.services import roi_assumptions_update


def _period(request):
    query = PeriodQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    return period_resolve(
        period=data["period"], tz=data["tz"], start=data.get("start"), end=data.get("end"), now=timezone.now(),
    )


def _period_view(name: str, selector, summary: str) -> type[APIView]:
    """A GET view over a period (period, tz, start, end) that returns what `selector` reads."""

    @extend_schema(parameters=[PeriodQuerySerializer], responses={200: OpenApiTypes.OBJECT}, summary=summary)
    def get(self, request):
        period = _period(request)
        return Response({**selector(period=period), "coverage": selectors.period_coverage(period=period)})

    return type(name, (APIView,), {"permission_classes": [IsManager], "get": get, "__doc__": summary})


TrendsApi = _period_view("TrendsApi", selectors.trends_daily, "Daily events, flagged, confirmed fraud and money at risk by tier")
HeatmapApi = _period_view("HeatmapApi", selectors.heatmap, "Fraud rate and volume by day of week × hour, with 95% intervals")
ModelHealthApi = _period_view("ModelHealthApi", selectors.model_health, "Tier precision, score distribution, drift, versions")
TeamApi = _period_view("TeamApi", selectors.team, "Decisions per reviewer per day, time to decision, oldest open high case, "
                       "decisions by reason, cases past due")
RoiApi = _period_view("RoiApi", selectors.roi, "Money stopped, review and friction cost, net savings and ROI")


class RoiAssumptionsApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=RoiAssumptionsSerializer, responses={200: RoiAssumptionsSerializer},
                   summary="Change the ROI assumptions (audited)")
    def post(self, request):
        data = RoiAssumptionsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stored = roi_assumptions_update(actor=request.user, **data.validated_data)
        return Response(RoiAssumptionsSerializer(stored).data)


class SegmentsApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Accounts per risk segment and what they look like")
    def get(self, request):
        return Response(selectors.account_segments())


class OffboardingApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(parameters=[OffboardingQuerySerializer], responses={200: OpenApiTypes.OBJECT},
                   summary="Accounts meeting an off-boarding criterion, with reasons")
    def get(self, request):
        query = OffboardingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.offboarding_list(**query.validated_data))


CSV_COLUMNS = ("account_id", "segment", "points", "events", "max_score", "high_events", "confirmed_frauds",
               "failed_payments", "devices", "ring_links", "amount_sum", "decision", "offboard_reasons", "factors", "model_reasons")


def offboarding_csv_row(row: dict) -> list:
    reasons = row.get("reasons") or {}
    return [
        *(row.get(c, "") for c in CSV_COLUMNS[:12]),
        "; ".join(r["text"] for r in reasons.get("offboard", [])),
        "; ".join(r["text"] for r in reasons.get("factors", [])),
        "; ".join(reasons.get("model", [])),
    ]


class OffboardingCsvApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(parameters=[OffboardingQuerySerializer], responses={(200, "text/csv"): OpenApiTypes.STR},
                   summary="The off-boarding list as CSV")
    def get(self, request):
        query = OffboardingQuerySerializer(data={**request.query_params.dict(), "limit": 500})
        query.is_valid(raise_exception=True)
        params = {k: v for k, v in query.validated_data.items() if k not in ("limit", "offset")}
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        offset = 0
        while True:
            page = selectors.offboarding_list(**params, limit=500, offset=offset)["items"]
            for row in page:
                writer.writerow(offboarding_csv_row(row))
            if len(page) < 500:
                break
            offset += 500
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="offboarding.csv"'
        return response


class AccountDecisionApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=AccountDecisionSerializer, responses={200: OpenApiTypes.OBJECT},
                   parameters=[OpenApiParameter("account_id", str, OpenApiParameter.PATH)],
                   summary="Off-board or keep an account (audited)")
    def post(self, request, account_id: str):
        data = AccountDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            account = account_decision_record(account_id=account_id, actor=request.user, **data.validated_data)
        except UnknownAccount:
            return error_response("account_id", "not_found", "no such account", status.HTTP_404_NOT_FOUND)
        return Response({"account_id": account.account_id, "decision": account.decision,
                         "decided_by": request.user.get_username(), "decided_at": account.decided_at})
