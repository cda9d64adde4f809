"""DATABASE_URL when set (PostgreSQL in production and tests); else an embedded SQLite file."""
from __future__ import annotations

from pathlib import Path

import dj_database_url

from config.env import env_bool, env_int, env_str

_VAR_DIR = Path(env_str("VAR_DIR", str(Path(__file__).resolve().parents[2] / "var")))

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"].endswith("postgresql") and env_bool("DB_PREPARED_STATEMENTS", True):
        # The /score statements run as server-side prepared statements (`core.db.prepared.
        # fetch_prepared`): planning them costs more than running them. Django leaves psycopg's
        # preparing off (threshold None), which silently ignores `prepare=True`; the ORM's
        # client-side-binding cursors are never prepared either way. Turn it off behind a
        # pooler that cannot keep prepared statements (PgBouncer in transaction mode < 1.21).
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["prepare_threshold"] = 1_000_000
        # Those statements read entities one value at a time, newest first, up to a cap
        # (`scoring.selectors._CONTEXT_SQL`): the generic plan walks the (entity, time) index
        # and stops at the cap. A custom plan, made for a hub device's value, may instead
        # bitmap-scan every one of its tens of thousands of index entries and sort them, and
        # PostgreSQL picks custom plans for a statement's first executions and whenever they
        # look cheaper. Only named prepared statements follow this setting; the ORM's don't.
        options["options"] = f"{options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _VAR_DIR / "fraud.sqlite3",
            # WAL lets the web process and a worker read while one of them writes.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20},
        }
    }

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # SQLite builds covering indexes without their INCLUDE columns; they only speed up PostgreSQL.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
