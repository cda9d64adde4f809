"""The two tables big loads set aside indexes for: transactions (imports) and scores (batch scoring).

How a bulk load works is in `core.db.bulk`.
"""
from __future__ import annotations

from django.db import connection

from core.db.bulk import BulkLoad, BulkTable, count_up_to
from triage.models import Score, Transaction

__all__ = ["BulkLoad", "SCORES", "TRANSACTIONS", "bulk_worthwhile"]

TRANSACTIONS = BulkTable(Transaction)
SCORES = BulkTable(Score)
# The transactions table's, as imports use them.
_LOCK_KEY = TRANSACTIONS.lock_key
secondary_indexes = TRANSACTIONS.secondary_indexes
foreign_keys = TRANSACTIONS.foreign_keys
indexes_missing = TRANSACTIONS.indexes_missing
indexes_restore = TRANSACTIONS.indexes_restore
indexes_set_aside = TRANSACTIONS.indexes_set_aside


def bulk_worthwhile(*, rows: int | None, client) -> bool:
    """Whether importing a file of `rows` rows for `client` is cheaper with the indexes rebuilt after it.

    The new rows are estimated as the file's minus those the source holds already, so a
    second import of the same file (nothing new) keeps the indexes, and a re-run after a
    crash half-way through a bulk load is a bulk load again.
    """
    if connection.vendor != "postgresql" or rows is None:
        return False
    new = rows - count_up_to(Transaction.objects.filter(client_id=client.pk), rows)
    return TRANSACTIONS.bulk_worthwhile(new)
