from __future__ import annotations

from celery import shared_task

from core.tasks import InBackgroundWhenEager


# Without a broker (the demo) the backtest runs in a thread, so the page answers at once
# and shows the run's progress like it would with workers.
@shared_task(base=InBackgroundWhenEager)
def run_backtest(run_id: int) -> str:
    from rules.backtest import backtest

    backtest(run_id)
    return f"backtest {run_id}"
