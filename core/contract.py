"""The event contract, once: every field an event may carry, its kind, its limits and the
PostgreSQL type it is stored as.

What reads a field list reads it from here: validation (`scoring.validation`), the /score
insert (`scoring.store.online`), the bulk writers' COPY (`scoring.store.events`), the file
import's mappable fields (`ingest.files`), the case view (`triage.selectors`), the OpenAPI
schema (`scoring.serializers.EventSerializer`) and the generated rows sent as events
(`synthetic.generator`). `tests/core/test_contract.py` holds them, and the stored table
(`triage.models.Transaction`), to this list. Adding a field: add it here, to the model with
a migration, and to the checks of its kind if it is a new kind (docs/architecture.md).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    # id / text (free text with a length limit), time, money, number (a bounded float),
    # choice, currency (ISO 4217), country, ip, mapping (the named attributes)
    kind: str
    sql: str  # the column's PostgreSQL type, as COPY and the /score insert cast to it
    required: bool = False
    max_length: int | None = None
    low: float | None = None  # numbers and money: the lowest accepted value
    high: float | None = None  # ... and the highest (money: below it)
    choices: tuple[str, ...] = ()  # choice: the accepted values
    help: str = ""


MAX_ID = 128

FIELDS: tuple[Field, ...] = (
    Field("event_id", "id", "text", required=True, max_length=MAX_ID, help="Your unique id for the event (idempotency key)"),
    Field("account_id", "id", "text", required=True, max_length=MAX_ID, help="The customer account the event belongs to"),
    Field("timestamp", "time", "timestamptz", required=True, help="ISO 8601 with zone, e.g. 2026-11-23T14:05:00Z"),
    Field("event_type", "text", "text", max_length=32, help="login, signup, payment, purchase, claim, …"),
    Field("amount", "money", "numeric(14, 2)", low=0, high=1e12, help="In the event's currency; two decimals are kept"),
    Field("currency", "currency", "text", help="ISO 4217 code, e.g. EUR"),
    Field("payment_status", "choice", "text", choices=("success", "failed", "declined")),
    Field("device_id", "id", "text", max_length=128),
    Field("ip_address", "ip", "inet"),
    Field("latitude", "number", "double precision", low=-90, high=90),
    Field("longitude", "number", "double precision", low=-180, high=180),
    Field("country", "country", "text", max_length=64, help="Country code or name, as your systems write it (e.g. DE)"),
    Field("session_duration", "number", "double precision", low=0, high=1e6, help="minutes"),
    Field("merchant_id", "id", "text", max_length=128, help="merchant or terminal"),
    Field("category", "text", "text", max_length=64),
    Field("account_created_at", "time", "timestamptz", help="When the account signed up"),
    Field("attributes", "mapping", "jsonb", help="further named numeric or categorical fields"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
# The fields of one column each (the attributes are a mapping of many).
COLUMN_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind != "mapping")
REQUIRED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
ID_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == "id")
TEXT_LIMITS: dict[str, int] = {f.name: f.max_length for f in FIELDS if f.max_length is not None}
# (field, lowest, highest) of the bounded numbers other than money.
NUMBER_RANGES: tuple[tuple[str, float, float], ...] = tuple(
    (f.name, f.low, f.high) for f in FIELDS if f.kind == "number"
)
NUMBER_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind in ("number", "money"))
TIME_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == "time")
MAX_AMOUNT: float = BY_NAME["amount"].high
