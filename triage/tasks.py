"""Triage's periodic work: snoozed cases come back, round-robin assignment."""
from __future__ import annotations

from celery import shared_task

from triage import workflow


@shared_task
def wake_snoozed_cases() -> str:
    return f"woke {workflow.snoozed_wake()}"


@shared_task
def assign_open_cases() -> str:
    return f"assigned {workflow.cases_auto_assign()}"
