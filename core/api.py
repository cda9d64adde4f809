"""One error shape for the whole API: {"errors": [{"field", "code", "message"}]}.

Callers get every problem at once, each naming the field it concerns, so a client
developer can fix a payload without guessing.
"""
from __future__ import annotations

from typing import Any

from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field the problem concerns: a body field, a header, a path or query parameter")
    code = serializers.CharField(help_text="Machine-readable: required, invalid, not_found, conflict, …")
    message = serializers.CharField(help_text="In words, for the developer")


class ErrorSerializer(serializers.Serializer):
    """The error answer's shape, for the OpenAPI schema."""

    errors = ErrorItemSerializer(many=True)


def error_response(field: str, code: str, message: str, http_status: int, **extra: Any) -> Response:
    """One problem, in the shape every API answer uses: {"errors": [{"field", "code", "message"}]}."""
    return Response({"errors": [{"field": field, "code": code, "message": message, **extra}]}, status=http_status)


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "detail") else str(key)
            out.extend(_flatten(value, f"{prefix}.{name}".strip(".") if name else prefix))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                out.extend(_flatten(value, f"{prefix}[{index}]" if prefix else f"[{index}]"))
            else:
                out.extend(_flatten(value, prefix))
        return out
    code = getattr(detail, "code", "invalid")
    return [{"field": prefix or "body", "code": str(code), "message": str(detail)}]


def exception_handler(exc: Exception, context: dict[str, Any]):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        prefix = ""
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            # A credentials scheme that answers WWW-Authenticate reads the Authorization header
            # (API keys); the people's APIs use the login session.
            prefix = "Authorization" if response.has_header("WWW-Authenticate") else "session"
        errors = _flatten(exc.detail, prefix)
        response.data = {"errors": errors}
    return response
