from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiClient


class ApiClientRateThrottle(SimpleRateThrottle):
    """Requests per API client (not per IP: many clients sit behind one NAT)."""

    scope = "api_client"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiClient):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return None
