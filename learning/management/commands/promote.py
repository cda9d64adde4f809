from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from learning.lifecycle import model_promote
from scoring.models import ModelVersion
from scoring.registry import ModelUnavailable


class Command(BaseCommand):
    help = "Make a model version the champion (the current champion is retired; audited)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the version name, as listed by `manage.py promote --list`", nargs="?")
        parser.add_argument("--list", action="store_true", help="list versions and their status")

    def handle(self, *args, **opts):
        if opts["list"] or not opts["name"]:
            for version in ModelVersion.objects.all():
                ap = version.metrics.get("test", {}).get("average_precision")
                ap_text = "—" if ap is None else f"{ap:.3f}"
                self.stdout.write(f"{version.name:<36} {version.status:<11} test AP {ap_text}")
            return
        version = ModelVersion.objects.filter(name=opts["name"]).first()
        if version is None:
            raise CommandError(f"no model version named {opts['name']!r}")
        try:
            model_promote(version=version, actor=None)
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{version.name} is now the champion"))
