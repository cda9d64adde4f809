from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand
from tqdm import tqdm

from accounts.models import ApiClient
from accounts.services import api_client_create, hash_key
from scoring.models import ExchangeRate, ModelVersion
from scoring.services import score_events
from scoring.validation import validate_event
from synthetic.generator import EVENT_FIELDS, WorldConfig, generate_world, row_event
from synthetic.management.commands.generate_data import SOURCE_NAME
from triage.models import Transaction

RATES_FILE = Path(settings.BASE_DIR) / "examples" / "rates.csv"
DEMO_USERS = (("reviewer", "reviewer"), ("manager", "manager"), ("admin", "admin"))
DEMO_PASSWORD_SUFFIX = "-demo-pass"
DEMO_API_KEY = "ftw_demo_key_for_local_use_only_0000000000"


class Command(BaseCommand):
    help = "Demo data end to end: history, a first model, live-scored events in the queue, demo users and key."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=1500)
        parser.add_argument("--days", type=int, default=45)
        parser.add_argument("--live-events", type=int, default=3000, help="unlabeled events scored into the queue")
        parser.add_argument(
            "--reset", action="store_true",
            help="empty the whole database first (every event, score, case, decision, model, user and audit "
                 "entry) and remove the model files it registered, then load the demo again",
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the demo server will answer")

    def handle(self, *args, **opts):
        quiet = opts["verbosity"] == 0
        if opts["reset"]:
            self._reset()
        history = Transaction.objects.filter(client__name=SOURCE_NAME, client__kind=ApiClient.Kind.IMPORT).count()
        if history:
            # Generating the world again takes seconds only to find every event already stored.
            self.stdout.write(f"demo data already loaded ({history:,} events); make demo-reset to start again")
        else:
            call_command("generate_data", accounts=opts["accounts"], days=opts["days"], verbosity=opts["verbosity"])
        if settings.REPORTING_CURRENCY == "USD" and not ExchangeRate.objects.exists():
            # Example monthly rates (not market data) so the demo's EUR and GBP amounts add up in USD.
            call_command("load_rates", str(RATES_FILE), verbosity=opts["verbosity"])
        if not ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).exists():
            call_command("train", verbosity=opts["verbosity"])
        client = ApiClient.objects.filter(key_hash=hash_key(DEMO_API_KEY)).first()
        if client is None:
            client, _ = api_client_create(name="demo-checkout", contact="demo@example.com", raw_key=DEMO_API_KEY)
        if not client.transactions.exists():
            world = generate_world(WorldConfig(accounts=opts["accounts"], days=opts["days"], unlabeled_days=5, seed=7))
            live = world[world["period"] == "unlabeled"].head(opts["live_events"])
            events = []
            for record in live[list(EVENT_FIELDS)].to_dict("records"):
                clean, problems = validate_event(row_event(record))
                if clean:
                    events.append(clean)
            with tqdm(total=len(events), desc="scoring live events", unit="events", disable=quiet) as bar:
                for start in range(0, len(events), 500):
                    score_events(client=client, events=events[start : start + 500])
                    bar.update(len(events[start : start + 500]))
        logins = []
        for username, role in DEMO_USERS:
            password = username + DEMO_PASSWORD_SUFFIX
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = role == "admin"
                user.is_superuser = role == "admin"
                user.save()
            # get_or_create: a reset flushes the groups the roles migration made.
            user.groups.add(Group.objects.get_or_create(name=role)[0])
            logins.append((role, username, password))
        self._example_rules(User.objects.get(username="manager"))
        # Last, so it is what the user reads when the server starts right after.
        url = opts["url"].rstrip("/") + "/"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Open {url} and log in as"))
        for role, username, password in logins:
            self.stdout.write(f"  {role:<9} user {username:<9} password {password}")
        self.stdout.write(f"Demo API key (POST {url}score): {DEMO_API_KEY}")
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write("Background tasks run in the web process (no REDIS_URL). Stop with Ctrl-C.")
        else:
            self.stdout.write("A Celery worker and beat run beside the web server. Stop with Ctrl-C.")
        self.stdout.write("")

    def _example_rules(self, manager) -> None:
        """A block list and a draft of two rules, so /rules/ and /lists/ show what they do:
        the draft does not act until a manager backtests and activates it."""
        from rules import services
        from rules.models import EntityList, RuleSetVersion

        if EntityList.objects.exists() or RuleSetVersion.objects.exists():
            return
        reported = services.list_create(name="reported-devices", kind="device", purpose="block", actor=manager,
                                        description="Devices card holders reported stolen")
        services.entry_add(entity_list=reported, value="dev-reported-demo", reason="reported stolen by the card holder",
                           actor=manager)
        services.draft_rule_save(rule={"name": "device shared by several accounts", "condition": "accounts_on_device_30d >= 3",
                                       "action": "review", "priority": 10,
                                       "reason": "three or more other accounts used this device in the last 30 days"}, actor=manager)
        services.draft_rule_save(rule={"name": "night burst", "condition": "is_night == 1 and events_1h >= 3",
                                       "action": "reason", "priority": 20,
                                       "reason": "three or more events within an hour at night"}, actor=manager)

    def _reset(self) -> None:
        database = settings.DATABASES["default"]
        self.stdout.write(f"emptying the database {database['NAME']} and its model files")
        bundles = list(ModelVersion.objects.values_list("bundle_path", flat=True))
        call_command("flush", interactive=False, verbosity=0)
        model_dir = Path(settings.MODEL_DIR).resolve()
        for bundle in bundles:
            path = Path(bundle).resolve()
            # Only bundles under MODEL_DIR: a path registered elsewhere is not ours to delete.
            if path.is_relative_to(model_dir) and path != model_dir:
                shutil.rmtree(path, ignore_errors=True)
