"""Django REST framework and OpenAPI."""
from __future__ import annotations

from config.env import env_str

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.OrjsonParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "api_client": env_str("SCORE_THROTTLE_RATE", "6000/min"),
        "register": "20/hour",
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Fraud triage workbench API",
    "DESCRIPTION": (
        "Score events in milliseconds, read explanations, and work review queues. "
        "External services authenticate with `Authorization: Bearer <api key>`; "
        "people use their session."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Score jobs and rule backtests share one set of run states; other "status" fields differ.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": ["queued", "running", "done", "failed"],
        "VerdictEnum": ["clear", "flag", "escalate"],
        "ClearOrFlagEnum": ["clear", "flag"],
    },
}
