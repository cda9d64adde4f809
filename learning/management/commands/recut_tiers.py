from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from learning.tier_watch import NotEnoughScores, tiers_recut, tiers_recut_preview


class Command(BaseCommand):
    help = (
        "Re-cut the champion's tier thresholds from its recent live scores so the high tier is about the "
        "team's daily capacity on today's traffic (never below the tiers' probability floors). Audited; the "
        "window's open, unclaimed cases are re-tiered. --dry-run shows the effect only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=7.0, help="live scores of this many recent days (default 7)")
        parser.add_argument("--dry-run", action="store_true", help="show the new thresholds without applying them")

    def handle(self, *args, **opts):
        if not 0 < opts["days"] <= 90:
            raise CommandError("--days must be above 0 and at most 90")
        try:
            preview = tiers_recut_preview(days=opts["days"])
            if not opts["dry_run"]:
                tiers_recut(actor=None, days=opts["days"])
        except NotEnoughScores as exc:
            raise CommandError(str(exc)) from None
        d = preview.as_dict()
        self.stdout.write(f"{d['scores']:,} live scores by {d['model']} over {d['days']:g} days; "
                          f"capacity {d['capacity_per_day']} a day")
        self.stdout.write(f"  high   {d['before']['high']:.4f} -> {d['after']['high']:.4f}   "
                          f"{d['high_per_day_before']:.1f} -> {d['high_per_day_after']:.1f} a day")
        self.stdout.write(f"  medium {d['before']['medium']:.4f} -> {d['after']['medium']:.4f}")
        self.stdout.write(self.style.SUCCESS("dry run: nothing changed") if opts["dry_run"]
                          else self.style.SUCCESS("thresholds re-cut (see the audit log)"))
