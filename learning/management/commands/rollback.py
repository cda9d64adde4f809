from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from scoring.models import ModelVersion
from scoring.registry import ModelUnavailable
from scoring.services import model_version_promote


class Command(BaseCommand):
    help = "Give the champion role back to the version that held it before the current one."

    def handle(self, *args, **opts):
        previous = (
            ModelVersion.objects.filter(status=ModelVersion.Status.RETIRED, promoted_at__isnull=False)
            .order_by("-promoted_at")
            .first()
        )
        if previous is None:
            raise CommandError("no earlier champion to roll back to")
        try:
            model_version_promote(version=previous, actor=None)
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"rolled back: {previous.name} is the champion again"))
