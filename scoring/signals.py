"""Signals the scoring room sends, for rooms above it to act on without scoring knowing them.

Both are sent inside the storing transaction, on PostgreSQL only, around one bulk COPY of
scores (`scoring.batch.store`). The dashboards (`insights.signals`) listen: their hour
marking, a trigger per stored row elsewhere, is switched off for the copy and done once for
the hours the copy touched.
"""
from __future__ import annotations

from django.dispatch import Signal

# Before the copy; arguments: `cursor`, on the copy's connection and transaction.
bulk_scores_copy_started = Signal()
# After the copy; arguments: `cursor`, and `event_hours`, the UTC hours of the scored events.
bulk_scores_copied = Signal()
# After exchange rates were loaded (`scoring.rates.rates_load`); arguments: `currencies` and
# `since`, the first day loaded: money figures of events from then on need recomputing.
rates_loaded = Signal()
