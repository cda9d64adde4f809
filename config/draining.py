"""Periodic tasks that catch up on a backlog a batch at a time."""
from __future__ import annotations

import time
from typing import Callable


def drain(step: Callable[[], int], *, seconds: float) -> int:
    """Call `step` (which handles one batch and returns how many items it did) until it does
    nothing or `seconds` have passed; the next scheduled run goes on from there. Returns
    the total done."""
    deadline = time.monotonic() + seconds
    total = 0
    while True:
        done = step()
        total += done
        if done == 0 or time.monotonic() > deadline:
            return total
