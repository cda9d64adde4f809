from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from learning.lifecycle import NoEarlierChampion, model_rollback
from scoring.registry import ModelUnavailable


class Command(BaseCommand):
    help = "Give the champion role back to the version that held it before the current one (audited)."

    def handle(self, *args, **opts):
        try:
            previous = model_rollback(actor=None)
        except (NoEarlierChampion, ModelUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"rolled back: {previous.name} is the champion again"))
