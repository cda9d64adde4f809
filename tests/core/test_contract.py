"""The event contract is written once (core/contract.py); everything that lists its fields agrees."""
from __future__ import annotations

import pytest
from django.db import connection
from drf_spectacular.generators import SchemaGenerator

from core import contract
from ingest.files import MAPPABLE_FIELDS
from scoring.serializers import EventSerializer
from scoring.store import events as event_store
from scoring.store import online
from scoring.validation import KNOWN_FIELDS, PAYMENT_STATUSES, validate_event
from synthetic.generator import EVENT_FIELDS
from tests.support.factories import event
from triage.models import Transaction
from triage.selectors import EVENT_FIELDS as CASE_FIELDS

# How the table's column types read in the contract's words.
_STORED_AS = {"varchar": "text", "numeric(14, 2)": "numeric(14, 2)", "timestamp with time zone": "timestamptz",
              "double precision": "double precision", "inet": "inet", "jsonb": "jsonb"}


def test_every_reader_of_the_contract_lists_its_fields():
    names = list(contract.NAMES)
    assert set(KNOWN_FIELDS) == set(names)
    assert [name for name, _, _ in online._EVENT_COLUMNS] == names
    assert [name for name, _ in event_store.STAGING[: len(names)]] == names
    assert [name for name in MAPPABLE_FIELDS if name != "scenario"] == list(contract.COLUMN_NAMES)
    assert list(EVENT_FIELDS) == list(contract.COLUMN_NAMES)
    assert list(CASE_FIELDS) == names
    assert list(EventSerializer().fields) == names
    assert PAYMENT_STATUSES == tuple(Transaction.PaymentStatus.values)


@pytest.mark.django_db
def test_the_table_stores_each_field_as_the_contract_says():
    for field in contract.FIELDS:
        column = Transaction._meta.get_field(field.name)
        stored = column.db_type(connection).split("(")[0] if column.db_type(connection).startswith("varchar") else column.db_type(connection)
        assert _STORED_AS.get(stored) == field.sql, field.name
        if field.max_length is not None:
            assert column.max_length >= field.max_length, field.name


def test_the_api_schema_documents_the_contract():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    properties = schema["components"]["schemas"]["EventRequest"]["properties"]
    assert list(properties) == list(contract.NAMES)
    assert sorted(schema["components"]["schemas"]["EventRequest"]["required"]) == sorted(contract.REQUIRED)
    assert properties["device_id"]["maxLength"] == contract.BY_NAME["device_id"].max_length


# event_type is checked against the deployment's list of types instead.
@pytest.mark.parametrize("field", sorted(set(contract.TEXT_LIMITS) - {"event_type"}))
def test_validation_holds_each_text_to_its_contract_length(field):
    limit = contract.TEXT_LIMITS[field]
    assert validate_event(event(**{field: "x" * limit}))[1] == []
    clean, problems = validate_event(event(**{field: "x" * (limit + 1)}))
    assert clean is None and [p["field"] for p in problems] == [field]


@pytest.mark.parametrize("name,low,high", contract.NUMBER_RANGES)
def test_validation_holds_each_number_to_its_contract_range(name, low, high):
    assert validate_event(event(**{name: low}))[1] == [] and validate_event(event(**{name: high}))[1] == []
    for outside in (low - 1, high + 1):
        assert [p["field"] for p in validate_event(event(**{name: outside}))[1]] == [name]
