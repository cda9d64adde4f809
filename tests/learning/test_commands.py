"""generate_data and train, run as a user would, end in a champion that scores."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from scoring.models import ModelVersion
from triage.models import Transaction

pytestmark = pytest.mark.django_db


def test_generate_then_train_registers_a_champion(capsys):
    call_command("generate_data", accounts=800, days=40, verbosity=0)
    stored = Transaction.objects.count()
    assert stored > 5000
    assert Transaction.objects.filter(is_fraud=True).exists()
    call_command("generate_data", accounts=800, days=40, verbosity=0)
    assert Transaction.objects.count() == stored  # the same world again adds nothing
    call_command("train")
    version = ModelVersion.objects.get(status="champion")
    assert version.metrics["test"]["roc_auc"] > 0.8
    assert "average_precision" in capsys.readouterr().out


def test_promote_and_rollback_switch_the_model_that_scores(champion, service):
    from learning.lifecycle import model_version_register
    from tests.support.factories import event, trained_result

    challenger = model_version_register(result=trained_result())
    call_command("promote", challenger.name)
    assert service.post("/score", event(event_id="x1"), format="json").json()["model_version"] == challenger.name
    call_command("rollback")
    assert service.post("/score", event(event_id="x2"), format="json").json()["model_version"] == champion.name
    assert ModelVersion.objects.get(pk=challenger.pk).status == "retired"
