"""Server-side prepared statements on Django's connection, for the statements of the hot paths."""
from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection


def fetch_prepared(sql: str, params: dict[str, Any]) -> list[tuple]:
    """Run a hot-path statement as a server-side prepared statement and return its rows.

    Django binds parameters on the client, so PostgreSQL parses and plans the statement on
    every call; planning the history and insert statements costs more than running them.
    psycopg prepares a statement once per connection and reuses the plan after that, as
    long as the connection has a `prepare_threshold` (config/settings/database.py sets one;
    with Django's default, None, psycopg silently ignores `prepare=True`).
    The statement runs on Django's connection, inside whatever transaction is open there.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors:
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
