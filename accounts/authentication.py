"""API-key authentication for external services.

The key travels as `Authorization: Bearer <key>` (or `X-API-Key: <key>`). A successful
check sets `request.auth` to the ApiClient; `request.user` stays anonymous, so a key can
never open a person's pages and a person's session can never call the service API.
"""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions, permissions

from accounts.models import ApiClient
from accounts.services import api_client_for_key, api_client_touch


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = request.META.get("HTTP_X_API_KEY", "")
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not raw and header:
            parts = header.split()
            if len(parts) != 2 or parts[0] != self.keyword:
                raise exceptions.AuthenticationFailed("Authorization header must be `Bearer <api key>`")
            raw = parts[1]
        if not raw:
            return None
        client = api_client_for_key(raw)
        if client is None:
            raise exceptions.AuthenticationFailed("API key is unknown or revoked")
        api_client_touch(client)
        return AnonymousUser(), client

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsApiClient(permissions.BasePermission):
    message = "an API key is required (Authorization: Bearer <key>)"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiClient)
