"""Run numpy-bound work in a forked process, side by side with the caller.

Batch features are numpy code that holds the GIL between its many calls, so two threads
take about as long as one; a forked child shares the caller's arrays without copying them
(copy-on-write) and writes its result columns into shared memory, so a big batch uses both
cores. Where forking is not possible (a daemonic process such as a Celery worker's, or a
platform without fork), or the child fails, the work runs in the caller instead: the result
is the same, only slower.
"""
from __future__ import annotations

import logging
import mmap
import multiprocessing
from collections.abc import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

# How long to wait for the child before computing its columns here: far longer than it
# takes (about 3 s for a million rows), so only a stuck child is given up on.
MIN_WAIT_SECONDS = 60.0
ROWS_PER_SECOND_AT_WORST = 20_000


def columns_in_child(
    compute: Callable[[], dict[str, np.ndarray]], names: Sequence[str], rows: int, *, fork: bool = True
) -> Callable[[], dict[str, np.ndarray]]:
    """Start `compute` (returning float64 columns of `rows` values, at least those of
    `names`) in a forked process; returns a function that waits for them. Without `fork`
    (or where forking is not possible) `compute` runs here, now."""
    if not (fork and _can_fork()):
        values = compute()
        return lambda: values
    # Anonymous shared memory: what the child writes here, the parent reads.
    shared = mmap.mmap(-1, max(len(names) * rows * 8, 1))
    out = np.frombuffer(shared, dtype=np.float64, count=len(names) * rows).reshape(len(names), rows)

    def child() -> None:
        values = compute()
        for j, name in enumerate(names):
            out[j] = values[name]

    process = multiprocessing.get_context("fork").Process(target=child, name="batch-features", daemon=True)
    process.start()

    def wait() -> dict[str, np.ndarray]:
        process.join(timeout=max(MIN_WAIT_SECONDS, rows / ROWS_PER_SECOND_AT_WORST))
        if process.is_alive():  # stuck (a lock held across the fork, say): do the work here
            process.terminate()
            process.join()
        if process.exitcode != 0:
            log.warning("feature process ended with code %s; computing its features here", process.exitcode)
            return compute()
        return {name: out[j] for j, name in enumerate(names)}

    return wait


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
