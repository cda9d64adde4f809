from __future__ import annotations

import os
import socket

from django.core.management.base import BaseCommand, CommandError

from synthetic.stream import StreamConfig, StreamError, client_register, stream_run


class Command(BaseCommand):
    help = (
        "Play a partner system: register with /register (or use --api-key), then post live synthetic "
        "events to /score at a steady rate, printing throughput, tiers and latency as it goes."
    )
    # A client of the product, not part of it: no need to check the project's setup first.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="the product's base URL, e.g. http://127.0.0.1:8000")
        parser.add_argument("--rate", type=float, default=5.0, help="events per second (default 5)")
        parser.add_argument("--batch", type=int, default=1, help="events per request (default 1; up to 1000)")
        parser.add_argument("--count", type=int, help="stop after this many events")
        parser.add_argument("--seconds", type=float, help="stop after this many seconds")
        parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at most (default 4)")
        parser.add_argument("--api-key", default=os.environ.get("STREAM_API_KEY", ""),
                            help="an existing API key (env STREAM_API_KEY); else register with the enrollment token")
        parser.add_argument("--enrollment-token", default=os.environ.get("ENROLLMENT_TOKEN", ""),
                            help="token for /register (env ENROLLMENT_TOKEN)")
        parser.add_argument("--name", default=f"stream@{socket.gethostname()}", help="client name to register")
        parser.add_argument("--accounts", type=int, default=500, help="accounts in the synthetic world (default 500)")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--clock", choices=["world", "now"], default="world",
            help="world (default): each event carries its time in the synthetic world, shifted to end now, so "
                 "accounts keep their real pace; now: stamp every event as it is sent (load tests: it squeezes "
                 "days of each account into seconds, which looks like bursts to the model)",
        )
        parser.add_argument("--report-every", type=float, default=2.0, help="seconds between progress lines")

    def handle(self, *args, **opts):
        if opts["rate"] <= 0 or not 1 <= opts["batch"] <= 1000 or opts["concurrency"] < 1:
            raise CommandError("--rate must be positive, --batch between 1 and 1000, --concurrency at least 1")
        api_key = opts["api_key"]
        try:
            if not api_key:
                if not opts["enrollment_token"]:
                    raise CommandError("give --api-key, or --enrollment-token (or ENROLLMENT_TOKEN) to register")
                api_key = client_register(url=opts["url"], enrollment_token=opts["enrollment_token"], name=opts["name"])
                self.stdout.write(f"registered as {opts['name']!r}")
        except StreamError as exc:
            raise CommandError(str(exc)) from None
        config = StreamConfig(
            url=opts["url"], rate=opts["rate"], batch=opts["batch"], count=opts["count"], seconds=opts["seconds"],
            concurrency=opts["concurrency"], accounts=opts["accounts"], seed=opts["seed"], clock=opts["clock"],
        )
        until = " until Ctrl-C" if config.count is None and config.seconds is None else ""
        self.stdout.write(f"streaming to {config.url}/score at {config.rate:g} events/s{until}")
        verbose = opts["verbosity"] > 0
        stats = stream_run(
            config, api_key=api_key, report_every=opts["report_every"],
            report=(lambda running: self.stdout.write(running.summary())) if verbose else None,
        )
        self.stdout.write(self.style.SUCCESS("done: " + stats.summary()))
        if stats.errors:
            self.stdout.write(self.style.WARNING(f"last error: {stats.last_error}"))
        return None
