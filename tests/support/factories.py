"""Things tests build: the personas' password and users, signed-in clients, a valid event,
the small generated world and the model trained on it (both built once per run)."""
from __future__ import annotations

from functools import lru_cache

DEMO_PASSWORD = "correct-horse-battery-staple"


def _user(username: str, role: str | None):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password=DEMO_PASSWORD)
    if role:
        # get_or_create: transactional tests flush the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def signed_in(user):
    """A DRF test client with `user`'s session, as the pages' own API calls run."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.login(username=user.username, password=DEMO_PASSWORD)
    return client


def event(**overrides):
    """A valid payment event; overrides replace fields."""
    body = {
        "event_id": "evt-1",
        "account_id": "acct-1",
        "timestamp": "2026-11-20T10:00:00Z",
        "event_type": "payment",
        "amount": 120.5,
        "currency": "USD",
        "payment_status": "success",
        "device_id": "dev-1",
        "ip_address": "203.0.113.9",
        "latitude": 52.52,
        "longitude": 13.405,
        "country": "DE",
        "merchant_id": "m-1",
        "category": "groceries",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@lru_cache(maxsize=1)
def small_world():
    from synthetic.generator import WorldConfig, generate_world

    return generate_world(WorldConfig(accounts=400, days=40, unlabeled_days=5, seed=11))


@lru_cache(maxsize=1)
def trained_result():
    from ml.training import TrainingConfig, train_model

    world = small_world()
    history = world[world["period"] == "history"].copy()
    history["is_fraud"] = history["is_fraud"].astype("float64")
    return train_model(history, TrainingConfig(capacity_per_day=20, max_rounds=150, trials=1))
