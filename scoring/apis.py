"""The service API: register a client, score events, read explanations."""
from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication, IsApiClient
from accounts.roles import MANAGER, user_has_role
from accounts.services import api_client_create
from core.api import ErrorSerializer, error_response
from scoring import serializers as s
from scoring.models import ScoreJob
from scoring.services import EventConflict, events_conflicts, score_events, score_job_create
from scoring.throttles import ApiClientRateThrottle, RateLimitHeadersMixin
from scoring.validation import validate_event
from triage.models import Score

EXAMPLE_EVENT = {
    "event_id": "pay-20261123-000123",
    "account_id": "acct-00042",
    "timestamp": "2026-11-23T14:05:00Z",
    "event_type": "payment",
    "amount": 249.90,
    "currency": "USD",
    "payment_status": "success",
    "device_id": "dev-7f3a",
    "ip_address": "203.0.113.7",
    "latitude": 48.8566,
    "longitude": 2.3522,
    "country": "FR",
    "merchant_id": "m-310",
    "category": "electronics",
}



class RegisterApi(APIView):
    """Register an external service; answers its API key once."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(
        request=s.RegisterInputSerializer,
        responses={201: s.RegisterOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer,
                   429: ErrorSerializer},
        summary="Register an API client",
        description="Needs the enrollment token in `X-Enrollment-Token`, or a logged-in manager.",
    )
    def post(self, request):
        token = request.META.get("HTTP_X_ENROLLMENT_TOKEN", "")
        allowed = (settings.ENROLLMENT_TOKEN and token == settings.ENROLLMENT_TOKEN) or user_has_role(
            request.user, MANAGER
        )
        if not allowed:
            return error_response("X-Enrollment-Token", "forbidden", "a valid enrollment token or a manager login is required", 403)
        data = s.RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = request.user if request.user.is_authenticated else None
        client, key = api_client_create(actor=actor, **data.validated_data)
        body = {"id": client.pk, "name": client.name, "api_key": key, "webhook_secret": client.webhook_secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ScoreApi(RateLimitHeadersMixin, APIView):
    """Score one event (a JSON object) or a batch (a JSON array of up to SCORE_MAX_BATCH)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsApiClient]
    throttle_classes = [ApiClientRateThrottle]

    @extend_schema(
        request=s.EventSerializer,
        parameters=[s.ScoreModeSerializer],
        responses={
            200: s.ScoreResultSerializer,
            202: s.ScoreJobAcceptedSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            409: ErrorSerializer,
            411: ErrorSerializer,
            413: ErrorSerializer,
            429: ErrorSerializer,
        },
        summary="Score events",
        description=(
            "Send one event as a JSON object, or up to 1,000 as a JSON array (answered as "
            "`{\"results\": [...]}` in the same order). Posting an `event_id` again returns the "
            "first result and stores nothing; the same `event_id` with a different body answers `409` naming "
            "the fields that differ. If any event is invalid, nothing is stored and every "
            "problem is listed with its field (`[3].amount`).\n\n"
            "With `?mode=async`, or for a batch larger than 1,000 events (up to 5,000), the events "
            "are validated, accepted with `202` and scored by the workers: poll the `status_url`.\n\n"
            "Every answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and "
            "`X-RateLimit-Reset` (seconds); a `429` carries `Retry-After`."
        ),
        examples=[OpenApiExample("A card payment", value=EXAMPLE_EVENT, request_only=True)],
    )
    def post(self, request):
        mode = request.query_params.get("mode", "sync")
        if mode not in ("sync", "async"):
            return error_response("mode", "invalid_choice", "must be sync or async", 400)
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not request.META.get("CONTENT_LENGTH"):
            # WSGI hands Django no body without a length: say so instead of "event_id is required".
            return error_response("Content-Length", "length_required", "send the body with a Content-Length (chunked bodies are not read)", 411)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.SCORE_MAX_BODY_BYTES:
            return error_response("body", "too_large", f"request body must be at most {settings.SCORE_MAX_BODY_BYTES} bytes", 413)
        payload = request.data
        is_batch = isinstance(payload, list)
        events = payload if is_batch else [payload]
        if is_batch and not events:
            return error_response("body", "empty", "send at least one event", 400)
        run_async = mode == "async" or len(events) > settings.SCORE_ASYNC_OVER
        limit = settings.SCORE_MAX_ASYNC_BATCH if run_async else settings.SCORE_MAX_BATCH
        if len(events) > limit:
            return error_response("body", "too_many", f"a batch holds at most {limit} events", 413)
        clean, problems = [], []
        for index, raw in enumerate(events):
            event, errors = validate_event(raw, prefix=f"[{index}]." if is_batch else "")
            problems.extend(errors)
            clean.append(event)
        if problems:
            return Response({"errors": problems}, status=status.HTTP_400_BAD_REQUEST)
        if run_async:
            try:
                events_conflicts(client=request.auth, events=clean)
            except EventConflict as conflict:
                return Response({"errors": _conflict_errors(conflict, clean, is_batch)}, status=status.HTTP_409_CONFLICT)
            job = score_job_create(client=request.auth, events=events, is_batch=is_batch)
            url = request.build_absolute_uri(reverse("score-job", args=[job.pk]))
            body = {"job_id": str(job.pk), "status": job.status, "event_count": job.event_count, "status_url": url}
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
        render = result_renderer(request)
        try:
            scored = score_events(client=request.auth, events=clean)
        except EventConflict as conflict:
            return Response({"errors": _conflict_errors(conflict, clean, is_batch)}, status=status.HTTP_409_CONFLICT)
        results = [render(vars(r)) for r in scored]
        return Response({"results": results} if is_batch else results[0])


def _conflict_errors(conflict: EventConflict, events: list[dict], is_batch: bool) -> list[dict]:
    """One error per differing field of each event that reuses an event_id with another body.

    An exact retry keeps its 200 with `duplicate: true`; a different body under the same
    id is a sender's bug (or two events given one id), and answering the first result
    would hide it, as idempotency keys at payment APIs do not."""
    return [
        {"field": f"[{index}].{name}" if is_batch else name, "code": "conflict",
         "message": f"differs from the event first sent with event_id {events[index]['event_id']!r}; "
                    "a retry repeats the body exactly, a new event needs a new event_id"}
        for index, fields in conflict.positions for name in fields
    ]


# A number no host, port or path holds: the explanation URL is built once per request with
# it in the id's place, then split there, so a batch's URLs cost a string join each.
_URL_ID_PLACEHOLDER = 987654321


def result_renderer(request):
    """Turns a stored result into the answer a client sees, with absolute explanation URLs."""
    template = request.build_absolute_uri(reverse("score-explanation", args=[_URL_ID_PLACEHOLDER]))
    head, tail = template.split(str(_URL_ID_PLACEHOLDER), 1)

    def render(result: dict) -> dict:
        return {
            "event_id": result["event_id"],
            "probability": round(result["probability"], 6),
            "risk_score": result["risk_score"],
            "tier": result["tier"],
            "expected_loss": result["expected_loss"],
            "model_version": result["model_version"],
            "explanation_status": result["explanation_status"],
            "explanation_url": f"{head}{result['transaction_id']}{tail}",
            "action": rules["action"] if (rules := result.get("rules")) else None,
            "rules": [{"rule": h["rule"], "action": h["action"], "reason": h["reason"]} for h in rules["hits"]] if rules else [],
            "duplicate": result["duplicate"],
        }

    return render


class ScoreJobApi(RateLimitHeadersMixin, APIView):
    """Status and results of an asynchronous /score job of this client."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsApiClient]
    throttle_classes = [ApiClientRateThrottle]

    @extend_schema(responses={200: s.ScoreJobSerializer, 404: ErrorSerializer}, summary="Read a scoring job")
    def get(self, request, job_id):
        job = ScoreJob.objects.filter(pk=job_id, client=request.auth).first()
        if job is None:
            return error_response("job_id", "not_found", "no scoring job with this id for your API key", 404)
        body = {
            "job_id": str(job.pk),
            "status": job.status,
            "event_count": job.event_count,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "error": job.error,
            "results": None,
        }
        if job.status == ScoreJob.Status.DONE:
            render = result_renderer(request)
            body["results"] = [render(r) for r in job.results]
        return Response(body)


class ExplanationApi(RateLimitHeadersMixin, APIView):
    """The SHAP explanation of one score made for this client (or its pending status)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsApiClient]
    throttle_classes = [ApiClientRateThrottle]

    @extend_schema(responses={200: s.ExplanationSerializer, 404: ErrorSerializer}, summary="Read an explanation")
    def get(self, request, transaction_id: int):
        score = (
            Score.objects.select_related("transaction")
            .filter(transaction_id=transaction_id, transaction__client=request.auth)
            .first()
        )
        if score is None:
            return error_response("transaction_id", "not_found", "no score with this id for your API key", 404)
        return Response(
            {
                "event_id": score.transaction.event_id,
                "status": score.explanation_status,
                "model_version": score.model_version_name,
                "explanation": score.explanation,
            }
        )
