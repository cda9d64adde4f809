"""Profile /score in process: where the CPU of one request goes.

    python bench/score_profile.py                 # single events and 1,000-event batches, 10 k stored
    python bench/score_profile.py --batch 1000 --requests 3 --top 25

Runs `scoring.services.score_events` (the service behind `POST /score`, after
authentication and validation) under cProfile against the benchmark database
`fraud_bench_10k` that `bench/score_load.py` fills, with the same events it sends. Each
request runs in a transaction that is rolled back, so the stored history never changes.
Prints wall time per request (profiler on) and the functions with the most cumulative time.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import score_load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=0, help="events per request (default: 1, then 1000)")
    parser.add_argument("--requests", type=int, default=0, help="requests per size (default 200 single, 3 batches)")
    parser.add_argument("--top", type=int, default=20, help="functions to list (default 20)")
    args = parser.parse_args()

    os.environ.update(score_load.bench_env(0))
    # Explanation tasks go to the benchmark's Redis db from a background thread, as in a web
    # worker (no worker consumes them; score_load.py flushes that db).
    import django

    django.setup()
    from django.db import transaction

    from accounts.models import ApiClient
    from scoring.registry import champion_model
    from scoring.services import score_events
    from scoring.validation import validate_event

    client = ApiClient.objects.get(name=score_load.BENCH_CLIENT)
    champion_model()  # loaded once per process, as in a web worker
    factory = score_load.EventFactory(score_load.account_profiles())
    for batch in [args.batch] if args.batch else [1, score_load.BATCH_SIZE]:
        count = args.requests or (200 if batch == 1 else 3)
        requests = [[validate_event(factory.make())[0] for _ in range(batch)] for _ in range(count + 1)]

        def run(events):
            with transaction.atomic():
                score_events(client=client, events=events)
                transaction.set_rollback(True)

        run(requests.pop())  # warm up: prepared statements, caches
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for events in requests:
            run(events)
        profile.disable()
        per_request = (time.perf_counter() - started) / count * 1000
        print(f"\n== {count} requests of {batch} event(s): {per_request:.1f} ms per request (profiler on)")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
