"""Money in one reporting currency: dated rates loaded from CSV, expected loss and the
dashboards' sums converted with them, an unknown currency refused."""
from __future__ import annotations

from datetime import date, datetime
from datetime import timezone as dt_timezone

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from core.money import RateTable
from insights.models import DirtyHour, HourlyRollup
from insights.rollups import rollups_recompute
from scoring.models import ExchangeRate
from scoring.rates import rates_forget
from tests.support.cases import make_case
from tests.support.factories import event, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rates():
    rates_forget()
    yield
    rates_forget()


def _rates(tmp_path, text):
    path = tmp_path / "rates.csv"
    path.write_text(text)
    return path


def test_the_rate_of_a_day_is_the_latest_published_on_or_before_it():
    table = RateTable.from_rows("USD", [("EUR", date(2026, 11, 2), 1.10), ("EUR", date(2026, 11, 9), 1.20)])
    assert table.rate("EUR", date(2026, 11, 8)) == 1.10   # a weekend keeps Friday's
    assert table.rate("EUR", date(2026, 11, 9)) == 1.20
    assert table.rate("EUR", date(2026, 10, 1)) == 1.10   # before the first: the first
    assert table.rate("usd", date(2026, 10, 1)) == 1.0 and table.rate("", date(2026, 10, 1)) == 1.0
    assert table.rate("JPY", date(2026, 11, 9)) is None


def test_load_rates_stores_good_rows_refuses_bad_ones_and_is_audited(tmp_path, capsys):
    path = _rates(tmp_path, "date,currency,rate\n2026-11-19,EUR,1.08\n2026-11-19,gbp,1.27\n"
                            "2026-11-19,XYZ,2\n2026-13-01,EUR,1.1\n2026-11-19,JPY,-1\n2026-11-19,USD,1\n")
    call_command("load_rates", str(path))
    out, err = capsys.readouterr()
    assert "stored 2 rates in USD; refused 4 rows" in out
    assert "line 4: currency 'XYZ' is not an ISO 4217 code" in err
    assert "line 5: date '2026-13-01' is not YYYY-MM-DD" in err
    assert "line 6: rate '-1' must be a positive number" in err
    assert "line 7: USD is the reporting currency" in err
    assert sorted(ExchangeRate.objects.values_list("currency", flat=True)) == ["EUR", "GBP"]
    # Loading again replaces a day's rate instead of storing it twice.
    call_command("load_rates", str(_rates(tmp_path, "date,currency,rate\n2026-11-19,EUR,1.09\n")))
    assert float(ExchangeRate.objects.get(currency="EUR").rate) == 1.09
    assert AuditEntry.objects.filter(action="rates_loaded").count() == 2
    with pytest.raises(CommandError, match="lacks the column"):
        call_command("load_rates", str(_rates(tmp_path, "day,currency,rate\n2026-11-19,EUR,1\n")))
    with pytest.raises(CommandError, match="no rate was stored"):
        call_command("load_rates", str(_rates(tmp_path, "date,currency,rate\n2026-11-19,XYZ,1\n")))


def test_expected_loss_is_in_the_reporting_currency(service, champion, tmp_path):
    call_command("load_rates", str(_rates(tmp_path, "date,currency,rate\n2026-11-18,EUR,1.25\n")))
    body = service.post("/score", [event(event_id="usd", amount=400.0, currency="USD"),
                                   event(event_id="eur", account_id="acct-2", amount=400.0, currency="EUR")],
                        format="json").json()["results"]
    usd, eur = body
    assert usd["expected_loss"] == pytest.approx(round(usd["probability"] * 400.0, 2), abs=0.01)
    assert eur["expected_loss"] == pytest.approx(round(eur["probability"] * 400.0 * 1.25, 2), abs=0.01)
    refused = service.post("/score", event(event_id="bad", currency="ABC"), format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "currency"


def test_the_dashboards_add_money_only_in_one_currency(api_client_and_key, tmp_path, manager):
    client = api_client_and_key[0]
    when = datetime(2026, 11, 20, 10, 15, tzinfo=dt_timezone.utc)
    make_case(client, "u", account="a-1", amount=1647.57, when=when)
    eur = [make_case(client, f"e-{i}", account=f"a-{i + 2}", amount=amount, when=when) for i, amount in enumerate((313.29, 366.98))]
    for txn in eur:
        type(txn).objects.filter(pk=txn.pk).update(currency="EUR")
    hour = datetime(2026, 11, 20, 10, tzinfo=dt_timezone.utc)
    rollups_recompute(start=hour, end=hour.replace(hour=11))
    assert sum(r.amount_sum for r in HourlyRollup.objects.all()) == pytest.approx(2327.84)  # no rate yet: 1:1
    # ... and the dashboard says which amounts were summed 1:1.
    dashboard = signed_in(manager)
    params = {"start": "2026-11-20", "end": "2026-11-20", "tz": "UTC"}
    coverage = dashboard.get("/api/insights/trends", params).json()["coverage"]
    assert coverage["unrated_events"] == 2 and coverage["unrated_currencies"] == ["EUR"]
    DirtyHour.objects.all().delete()
    call_command("load_rates", str(_rates(tmp_path, "date,currency,rate\n2026-11-20,EUR,1.1\n")))
    assert DirtyHour.objects.filter(hour=hour).exists()  # the hour is recomputed
    rollups_recompute(start=hour, end=hour.replace(hour=11))
    assert sum(r.amount_sum for r in HourlyRollup.objects.all()) == pytest.approx(1647.57 + (313.29 + 366.98) * 1.1)
    coverage = dashboard.get("/api/insights/trends", params).json()["coverage"]
    assert coverage["unrated_events"] == 0 and coverage["unrated_currencies"] == []
