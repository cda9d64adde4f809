"""DATABASE_URL when set (PostgreSQL in production and tests); else an embedded SQLite file."""
from __future__ import annotations

from pathlib import Path

import dj_database_url

from config.env import env_int, env_str

_VAR_DIR = Path(env_str("VAR_DIR", str(Path(__file__).resolve().parents[2] / "var")))

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _VAR_DIR / "fraud.sqlite3",
            # WAL lets the web process and a worker read while one of them writes.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20},
        }
    }
