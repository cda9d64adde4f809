"""The reviewers' API: queue, next case, claims, case view data, decisions, undo, bulk, ring
decisions, comments, disposition codes, case files.

Session login only (API keys never reach these): reviewer role for cases, manager role for
bulk decisions and for editing the disposition codes.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManager, IsReviewer
from core.api import error_response
from triage import selectors, services, workflow
from triage import serializers as s
from triage.dispositions import DispositionRefused, disposition_create, disposition_update, dispositions_list
from triage.models import CaseComment, Decision, Disposition, Score

CASE_ID = OpenApiParameter("transaction_id", int, OpenApiParameter.PATH)



def _work_refused(exc: workflow.WorkRefused) -> Response:
    if exc.conflict:
        return _conflict(str(exc), field=exc.field)
    return error_response(exc.field, "invalid", str(exc), status.HTTP_400_BAD_REQUEST)


def _not_found() -> Response:
    return error_response("transaction_id", "not_found", "no such case", status.HTTP_404_NOT_FOUND)


def _conflict(message: str, field: str = "transaction_id") -> Response:
    return error_response(field, "conflict", message, status.HTTP_409_CONFLICT)


class QueueApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[s.QueueQuerySerializer],
        responses={200: s.QueueSerializer},
        summary="Open cases of a tier (or escalated cases), highest expected loss first, with counts",
        description="Poll with `since` set to the last answer's `as_of` to learn how many new cases arrived.",
    )
    def get(self, request):
        query = s.QueueQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        params, filters = query.validated_data, query.filters()
        now = timezone.now()
        filtered = filters != selectors.QueueFilters()
        cap = settings.QUEUE_FILTERED_COUNT_CAP if filtered else settings.QUEUE_COUNT_CAP
        counts, capped = selectors.queue_counts(filters=filters, cap=cap)
        since = params.get("since")
        # One row past the page says whether there is more without counting the matches,
        # which on a sparse filter over a large tier would mean reading most of it.
        listing = selectors.queue_account_cases if params["view"] == "accounts" else selectors.queue_list
        items = listing(
            tier=params["tier"], filters=filters, limit=params["limit"] + 1, offset=params["offset"], since=since,
            status=params["status"],
        )
        body = {
            "counts": counts,
            "capped": capped,
            "count_cap": cap,
            "counts_filtered": filtered,
            "tier": params["tier"],
            "status": params["status"],
            "as_of": now,
            "new_count": selectors.queue_new_count(
                filters=filters, since=since, tier=params["tier"], status=params["status"]
            ) if since else 0,
            "items": items[: params["limit"]],
            "has_more": len(items) > params["limit"],
        }
        return Response(s.QueueSerializer(body).data)


class NextCaseApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[s.NextCaseQuerySerializer],
        request=None,
        responses={200: s.NextCaseSerializer},
        summary="Claim the open case with the highest expected loss that nobody else holds",
        description=(
            f"Holds the case for CLAIM_SECONDS (default {settings.CLAIM_SECONDS} s) and releases your other claims. "
            "Honours the queue filters. `case` is null when nothing is left."
        ),
    )
    def post(self, request):
        query = s.NextCaseQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        tier = query.validated_data.get("tier")
        tiers = [tier] if tier else list(selectors.TIER_ORDER)
        workflow.snoozed_wake()  # a case whose snooze just ended is next in line without waiting for the minute's run
        score = services.case_claim_next(
            reviewer=request.user, tiers=tiers, cases=selectors.queue_cases(filters=query.filters()),
            skip=query.validated_data.get("skip"),
        )
        if score is None:
            return Response({"case": None, "message": "No unclaimed open cases match; the queue is clear."})
        body = {
            "case": selectors.queue_item(transaction_id=score.pk),
            "message": f"Case {score.pk} is yours for {settings.CLAIM_SECONDS // 60} minutes.",
        }
        return Response(s.NextCaseSerializer(body).data)


class CaseApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(parameters=[CASE_ID], responses={200: OpenApiTypes.OBJECT}, summary="Everything about one case")
    def get(self, request, transaction_id: int):
        score = selectors.case_get(transaction_id=transaction_id)
        if score is None:
            return _not_found()
        return Response(selectors.case_detail(score=score))


class CaseHistoryApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[CASE_ID], responses={200: OpenApiTypes.OBJECT},
        summary="The account's events, earlier decisions and risk summary",
    )
    def get(self, request, transaction_id: int):
        score = selectors.case_get(transaction_id=transaction_id)
        if score is None:
            return _not_found()
        return Response(selectors.account_history(txn=score.transaction))


class CaseNetworkApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[CASE_ID], responses={200: OpenApiTypes.OBJECT},
        summary="Accounts sharing the account's devices, IPs or merchants (bounded)",
    )
    def get(self, request, transaction_id: int):
        score = selectors.case_get(transaction_id=transaction_id)
        if score is None:
            return _not_found()
        return Response(selectors.account_network(txn=score.transaction))


class ClaimApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(parameters=[CASE_ID], request=None, responses={200: s.ClaimSerializer}, summary="Claim a case you opened")
    def post(self, request, transaction_id: int):
        if not Score.objects.filter(pk=transaction_id).exists():
            return _not_found()
        try:
            score = services.case_claim(transaction_id=transaction_id, reviewer=request.user)
        except services.ClaimConflict as exc:
            return _conflict(str(exc))
        body = {"transaction_id": score.pk, "claimed_by": request.user.get_username(), "claim_expires_at": score.claim_expires_at}
        return Response(s.ClaimSerializer(body).data)

    @extend_schema(parameters=[CASE_ID], responses={204: None}, summary="Release your claim on a case")
    def delete(self, request, transaction_id: int):
        services.claim_release(transaction_id=transaction_id, reviewer=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DecisionApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=s.DecisionInputSerializer,
        responses={201: s.DecisionOutputSerializer},
        parameters=[CASE_ID],
        summary="Clear, flag or escalate an alert, or its account's whole case",
        description="409 when the case changed since you saw it or another reviewer holds it.",
    )
    def post(self, request, transaction_id: int):
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not Score.objects.filter(transaction_id=transaction_id).exists():
            return _not_found()
        fields = dict(data.validated_data)
        whole_case = fields.pop("scope") == "case"
        try:
            name = fields.pop("assignee")
            fields["assignee"] = workflow.assignee_for(name) if name else None
        except workflow.WorkRefused as exc:
            return _work_refused(exc)
        try:
            if whole_case:
                decisions = services.case_decision_record(transaction_id=transaction_id, reviewer=request.user, **fields)
                decision = next(d for d in decisions if d.transaction_id == transaction_id)
            else:
                decision = services.decision_record(transaction_id=transaction_id, reviewer=request.user, **fields)
                decisions = [decision]
        except DispositionRefused as exc:
            return _disposition_refused(exc)
        except services.DecisionConflict as exc:
            return _conflict(str(exc), field="expected_status")
        body = {
            "id": decision.pk,
            "transaction_id": transaction_id,
            "verdict": decision.verdict,
            "disposition": decision.disposition_id,
            "note": decision.note,
            "reviewer": request.user.get_username(),
            "created_at": decision.created_at,
            "undo_until": decision.created_at + timedelta(seconds=settings.UNDO_SECONDS),
            "decided": sorted(d.transaction_id for d in decisions),
        }
        return Response(s.DecisionOutputSerializer(body).data, status=status.HTTP_201_CREATED)


class UndoApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[CASE_ID], request=None, responses={200: s.UndoOutputSerializer},
        summary="Undo your latest decision on a case",
        description=f"Within UNDO_SECONDS (default {settings.UNDO_SECONDS} s) and only if nobody decided since; else 409.",
    )
    def post(self, request, transaction_id: int):
        if not Score.objects.filter(transaction_id=transaction_id).exists():
            return _not_found()
        try:
            decision = services.decision_undo(transaction_id=transaction_id, reviewer=request.user)
        except services.UndoRefused as exc:
            return _conflict(str(exc))
        restored = Score.objects.values_list("review_status", flat=True).get(pk=transaction_id)
        together = (Decision.objects.filter(group=decision.group, undone_at=decision.undone_at).count()
                    if decision.group else 1)
        body = {"transaction_id": transaction_id, "undone_decision": decision.pk, "review_status": restored,
                "undone_alerts": together}
        return Response(s.UndoOutputSerializer(body).data)


class BulkDecisionApi(APIView):
    """Managers clear or flag many open cases at once (all or nothing)."""

    permission_classes = [IsManager]

    @extend_schema(
        request=s.BulkInputSerializer,
        responses={201: s.BulkOutputSerializer},
        summary="Clear or flag selected open cases, all or nothing (managers)",
        description="If any case is not open or is held by another reviewer, answers 409 listing each one; nothing is written.",
    )
    def post(self, request):
        data = s.BulkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            decisions = services.decisions_bulk_record(reviewer=request.user, **data.validated_data)
        except DispositionRefused as exc:
            return _disposition_refused(exc)
        except services.BulkRefused as exc:
            return _bulk_refused(exc)
        body = {"verdict": data.validated_data["verdict"], "decided": [d.transaction_id for d in decisions]}
        return Response(s.BulkOutputSerializer(body).data, status=status.HTTP_201_CREATED)


def _disposition_refused(exc: DispositionRefused) -> Response:
    return error_response(exc.field, "invalid", str(exc), status.HTTP_400_BAD_REQUEST)


def _bulk_refused(exc: services.BulkRefused) -> Response:
    errors = [
        {"field": "transaction_ids", "code": "conflict", "message": f"case {c.transaction_id}: {c.reason}",
         "transaction_id": c.transaction_id}
        for c in exc.conflicts
    ]
    return Response({"errors": errors}, status=status.HTTP_409_CONFLICT)


class RingDecisionApi(APIView):
    """Decide every undecided case of a group of linked accounts at once, from a case's network."""

    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[CASE_ID], request=s.RingDecisionInputSerializer, responses={201: s.RingDecisionOutputSerializer},
        summary="Clear or flag every open or escalated case of linked accounts, all or nothing",
        description="`accounts` must be this case's account or accounts its network links to (400 naming any other). "
                    "409 listing each case another reviewer holds; nothing is written then.",
    )
    def post(self, request, transaction_id: int):
        score = selectors.case_get(transaction_id=transaction_id)
        if score is None:
            return _not_found()
        data = s.RingDecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        network = selectors.account_network(txn=score.transaction)
        linked = {n["label"] for n in network["nodes"] if n["kind"] == "account"}
        strangers = [a for a in data.validated_data["accounts"] if a not in linked]
        if strangers:
            return error_response("accounts", "not_linked", f"not linked to account {score.transaction.account_id} "
                                  f"in the last {network['days']} days: {', '.join(strangers[:10])}", status.HTTP_400_BAD_REQUEST)
        try:
            decisions = services.ring_decision_record(reviewer=request.user, **data.validated_data)
        except DispositionRefused as exc:
            return _disposition_refused(exc)
        except services.RingRefused as exc:
            return _conflict(str(exc), field="accounts")
        except services.BulkRefused as exc:
            return _bulk_refused(exc)
        body = {"verdict": data.validated_data["verdict"], "accounts": sorted(set(data.validated_data["accounts"])),
                "decided": [d.transaction_id for d in decisions]}
        return Response(s.RingDecisionOutputSerializer(body).data, status=status.HTTP_201_CREATED)


class DispositionsApi(APIView):
    """The managed list of disposition codes: everyone reads it, managers add to it."""

    permission_classes = [IsReviewer]

    def get_permissions(self):
        return [IsManager()] if self.request.method == "POST" else [IsReviewer()]

    @extend_schema(
        parameters=[OpenApiParameter("all", bool, description="Include retired codes")],
        responses={200: s.DispositionListSerializer}, summary="Disposition codes, per verdict in their order",
    )
    def get(self, request):
        include = request.query_params.get("all", "").lower() in ("1", "true", "yes")
        return Response(s.DispositionListSerializer({"results": dispositions_list(include_inactive=include)}).data)

    @extend_schema(request=s.DispositionSerializer, responses={201: s.DispositionSerializer},
                   summary="Add a disposition code (managers; audited)")
    def post(self, request):
        data = s.DispositionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if Disposition.objects.filter(code=data.validated_data["code"]).exists():
            return error_response("code", "duplicate", "a code with this name exists (retired codes stay reserved)",
                                  status.HTTP_400_BAD_REQUEST)
        item = disposition_create(actor=request.user, **data.validated_data)
        return Response(s.DispositionSerializer(item).data, status=status.HTTP_201_CREATED)


class DispositionApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(request=s.DispositionChangeSerializer, responses={200: s.DispositionSerializer},
                   summary="Reword, reorder, retire or bring back a code (managers; audited)")
    def patch(self, request, code: str):
        if not Disposition.objects.filter(code=code).exists():
            return error_response("code", "not_found", "no such disposition code", status.HTTP_404_NOT_FOUND)
        data = s.DispositionChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = disposition_update(actor=request.user, code=code, **data.validated_data)
        return Response(s.DispositionSerializer(item).data)


COMMENT_ID = OpenApiParameter("comment_id", int, OpenApiParameter.PATH)


def _comment_refused(exc: services.CommentRefused) -> Response:
    if exc.forbidden:
        return error_response(exc.field, "forbidden", str(exc), status.HTTP_403_FORBIDDEN)
    return error_response(exc.field, "invalid", str(exc), status.HTTP_400_BAD_REQUEST)


class CaseCommentsApi(APIView):
    """The comment thread of a case."""

    permission_classes = [IsReviewer]

    @extend_schema(parameters=[CASE_ID], responses={200: s.CommentListSerializer}, summary="A case's comments, oldest first")
    def get(self, request, transaction_id: int):
        if not Score.objects.filter(transaction_id=transaction_id).exists():
            return _not_found()
        return Response(s.CommentListSerializer({"results": selectors.case_comments(transaction_id=transaction_id)}).data)

    @extend_schema(parameters=[CASE_ID], request=s.CommentInputSerializer, responses={201: s.CommentSerializer},
                   summary="Comment on a case (audited)")
    def post(self, request, transaction_id: int):
        if not Score.objects.filter(transaction_id=transaction_id).exists():
            return _not_found()
        data = s.CommentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            comment = services.comment_add(transaction_id=transaction_id, author=request.user, body=data.validated_data["body"])
        except services.CommentRefused as exc:
            return _comment_refused(exc)
        return Response(s.CommentSerializer(selectors.comment_view(comment)).data, status=status.HTTP_201_CREATED)


class CaseCommentApi(APIView):
    """One comment: its author rewords it; the earlier wording is kept."""

    permission_classes = [IsReviewer]

    @extend_schema(parameters=[CASE_ID, COMMENT_ID], request=s.CommentInputSerializer, responses={200: s.CommentSerializer},
                   summary="Edit your comment (earlier wordings kept, audited)")
    def patch(self, request, transaction_id: int, comment_id: int):
        if not CaseComment.objects.filter(pk=comment_id, transaction_id=transaction_id).exists():
            return error_response("comment_id", "not_found", "no such comment on this case", status.HTTP_404_NOT_FOUND)
        data = s.CommentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            comment = services.comment_edit(comment_id=comment_id, editor=request.user, body=data.validated_data["body"])
        except services.CommentRefused as exc:
            return _comment_refused(exc)
        return Response(s.CommentSerializer(selectors.comment_view(comment)).data)


def _work_change(request, transaction_id: int, serializer, change) -> Response:
    """Validate the body, apply `change(fields)` (the alerts it changed), answer the case's state."""
    data = serializer(data=request.data)
    data.is_valid(raise_exception=True)
    if not Score.objects.filter(pk=transaction_id).exists():
        return _not_found()
    try:
        ids = change(data.validated_data)
    except workflow.WorkRefused as exc:
        return _work_refused(exc)
    score = Score.objects.select_related("assigned_to").get(pk=transaction_id)
    body = {"transaction_ids": ids, "review_status": score.review_status, "snoozed_until": score.snoozed_until,
            "assigned_to": score.assigned_to.get_username() if score.assigned_to_id else None}
    return Response(s.WorkOutputSerializer(body).data)


class AssignApi(APIView):
    """Managers hand a case to a reviewer, or take the assignment away."""

    permission_classes = [IsManager]

    @extend_schema(
        parameters=[CASE_ID], request=s.AssignInputSerializer, responses={200: s.WorkOutputSerializer},
        summary="Assign or reassign a case to a reviewer (managers)",
        description="Only the assignee, or a manager, then takes and decides it. 409 when the case is decided.",
    )
    def post(self, request, transaction_id: int):
        def assign(fields):
            assignee = workflow.assignee_for(fields["assignee"]) if fields["assignee"] else None
            return workflow.case_assign(transaction_id=transaction_id, manager=request.user, assignee=assignee,
                                        whole_case=fields["scope"] == "case", note=fields["note"])

        return _work_change(request, transaction_id, s.AssignInputSerializer, assign)


class SnoozeApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        parameters=[CASE_ID], request=s.SnoozeInputSerializer, responses={200: s.WorkOutputSerializer},
        summary="Snooze an open case until a time: it leaves the queue and comes back open then",
        description="409 when the case is not open, another reviewer holds it or it is assigned to someone else.",
    )
    def post(self, request, transaction_id: int):
        return _work_change(request, transaction_id, s.SnoozeInputSerializer, lambda fields: workflow.case_snooze(
            transaction_id=transaction_id, reviewer=request.user, until=fields["until"], note=fields["note"],
            whole_case=fields["scope"] == "case"))

    @extend_schema(
        parameters=[CASE_ID], request=s.WakeInputSerializer, responses={200: s.WorkOutputSerializer},
        summary="End a snooze now: the case is open again",
    )
    def delete(self, request, transaction_id: int):
        return _work_change(request, transaction_id, s.WakeInputSerializer, lambda fields: workflow.case_wake(
            transaction_id=transaction_id, reviewer=request.user, whole_case=fields["scope"] == "case"))


class ReviewersApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        responses={200: s.ReviewerListSerializer},
        summary="Reviewers a case can go to: on shift or not, and their assigned load",
    )
    def get(self, request):
        body = {"results": workflow.reviewers_with_load(), "auto_assign_tiers": settings.AUTO_ASSIGN_TIERS}
        return Response(s.ReviewerListSerializer(body).data)


class ShiftApi(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(responses={200: s.ShiftSerializer}, summary="Whether you are on shift")
    def get(self, request):
        return Response({"on_shift": workflow.on_shift(request.user)})

    @extend_schema(
        request=s.ShiftSerializer, responses={200: s.ShiftSerializer},
        summary="Start or end your shift: round-robin assignment hands cases to reviewers on shift only",
    )
    def put(self, request):
        data = s.ShiftSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        shift = workflow.shift_set(user=request.user, on_shift=data.validated_data["on_shift"])
        return Response({"on_shift": shift.on_shift})
