from __future__ import annotations

from django.db import models


class ApiClient(models.Model):
    """A registered external service (checkout, login service, batch job) or an import source.

    Only a SHA-256 digest of the API key is stored: keys are long random tokens, so a fast
    hash is enough and lets /score find the client with one indexed lookup.
    """

    class Kind(models.TextChoices):
        API = "api", "API client"
        IMPORT = "import", "Import source"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.API)
    contact = models.CharField(max_length=200, blank=True)
    webhook_url = models.URLField(blank=True)
    # Shared secret for signing webhook callbacks (HMAC-SHA256); shown once at registration.
    webhook_secret = models.CharField(max_length=64, blank=True)
    key_prefix = models.CharField(max_length=16, blank=True, help_text="First characters of the key, to recognise it")
    key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
