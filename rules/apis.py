"""The rules API: check a condition as it is typed, read a backtest run."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManager, IsReviewer
from core.api import ErrorSerializer, error_response
from rules import serializers as s
from rules.language import RuleSyntaxError, parse
from rules.models import BacktestRun
from rules.services import vocabulary


class ConditionCheckApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=s.ConditionCheckInputSerializer, responses={200: s.ConditionCheckSerializer, 400: ErrorSerializer},
                   summary="Check a rule condition", description="400 names the problem and its position (0-based).")
    def post(self, request):
        condition = request.data.get("condition") if isinstance(request.data, dict) else None
        if not isinstance(condition, str):
            return error_response("condition", "required", "send the condition as text", 400)
        try:
            checked = parse(condition, vocabulary())
        except RuleSyntaxError as exc:
            return error_response("condition", "syntax", exc.message, 400, position=exc.position, pointer=exc.pointer)
        names = sorted(checked.names | {f'attributes["{a}"]' for a in checked.attributes})
        return Response({"ok": True, "reads": names, "lists": sorted(checked.lists)})


class BacktestRunApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(responses={200: s.BacktestRunSerializer, 404: ErrorSerializer}, summary="A rule backtest and its figures")
    def get(self, request, run_id: int):
        run = BacktestRun.objects.select_related("version").filter(pk=run_id).first()
        if run is None:
            return error_response("run_id", "not_found", f"no backtest {run_id}", 404)
        return Response(s.BacktestRunSerializer(run).data)
