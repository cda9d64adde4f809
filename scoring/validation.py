"""Validation of incoming events against the data contract.

Hand-written rather than a DRF serializer because it sits on the /score hot path: a
1,000-event batch must validate in a few milliseconds. Every problem is reported with
the field it concerns, all at once.
"""
from __future__ import annotations

import ipaddress
import math
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pycountry

from core import contract
from core.contract import ID_FIELDS, MAX_AMOUNT, MAX_ID, NUMBER_RANGES, REQUIRED, TEXT_LIMITS  # noqa: F401  (read by the import)

# The contract's event types; a deployment with others lists them in EVENT_TYPES.
DEFAULT_EVENT_TYPES = ("login", "signup", "payment", "purchase", "claim")
MAX_ATTRIBUTES = 50
PAYMENT_STATUSES = contract.BY_NAME["payment_status"].choices

MAX_ATTRIBUTE_TEXT = 256
MAX_ATTRIBUTE_KEY = 64
# Attribute integers are stored in JSON and read back as 64-bit integers.
INT64_RANGE = (-(2**63), 2**63 - 1)
# Event times outside these are refused: before 1970 nothing the product scores happened,
# and far-future times would sort ahead of every live event (and overflow the window
# arithmetic near year 1 or 9999). Python datetimes, like the stored column, are UTC.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=dt_timezone.utc)
KNOWN_FIELDS = frozenset(contract.NAMES)


def event_types() -> tuple[str, ...]:
    from django.conf import settings  # read late: this module is also used without Django set up

    return tuple(getattr(settings, "EVENT_TYPES", DEFAULT_EVENT_TYPES)) if settings.configured else DEFAULT_EVENT_TYPES


@lru_cache(maxsize=1)
def currency_codes() -> frozenset[str]:
    """ISO 4217 alphabetic codes (pycountry's copy of the standard's current list)."""
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


class Problem(dict):
    """One error: {"field", "code", "message"}."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(field=field, code=code, message=message)


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 with a zone offset (or Z) to an aware datetime; ValueError with the reason."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string, e.g. 2026-11-23T14:05:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("is not an ISO 8601 date-time, e.g. 2026-11-23T14:05:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("must include a time zone (Z or +hh:mm)")
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 and Python allow.
        parsed = parsed.astimezone(dt_timezone.utc)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    if not EARLIEST_TIME <= parsed < LATEST_TIME:
        raise ValueError("must be from 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z")
    return parsed


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored (PostgreSQL text holds no NUL, UTF-8 no lone surrogate), or None."""
    if "\x00" in value:
        return "must not contain the NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds an unpaired surrogate)"
    return None


def validate_event(raw: Any, prefix: str = "") -> tuple[dict[str, Any] | None, list[Problem]]:
    """Returns (clean event, []) or (None, problems). `prefix` is prepended to field names."""
    if not isinstance(raw, dict):
        return None, [Problem(prefix.rstrip(".") or "body", "invalid", "each event must be a JSON object")]
    problems: list[Problem] = []
    clean: dict[str, Any] = {}

    def fail(field: str, code: str, message: str) -> None:
        problems.append(Problem(f"{prefix}{field}", code, message))

    for field in sorted(set(raw) - KNOWN_FIELDS):
        if len(field) > MAX_ATTRIBUTE_KEY or text_problem(field):
            field = "body"  # not echoed: too long, or not storable text
        fail(field, "unknown_field", "is not a field of the data contract; put extra data under `attributes`")
    for field in REQUIRED:
        value = raw.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            fail(field, "required", "is required")

    for field, limit in TEXT_LIMITS.items():
        value = raw.get(field)
        if value is None:
            clean[field] = ""
            continue
        if not isinstance(value, str):
            # Numbers are refused rather than turned into text: 1e3 and 1000 would be one id.
            hint = f' (send numeric ids quoted, e.g. "{value}")' if field in ID_FIELDS and isinstance(value, int) else ""
            fail(field, "invalid_type", f"must be a string{hint}")
        elif len(value) > limit:
            fail(field, "too_long", f"must be at most {limit} characters")
        elif (reason := text_problem(value)) is not None:
            fail(field, "invalid", reason)
        else:
            clean[field] = value.strip()

    for field in ("timestamp", "account_created_at"):
        value = raw.get(field)
        if value in (None, ""):
            clean[field] = None
            continue
        try:
            clean[field] = parse_timestamp(value)
        except ValueError as exc:
            fail(field, "invalid_timestamp", str(exc))

    amount = raw.get("amount")
    clean["amount"] = None
    if amount is not None:
        number = _number(amount)
        if number is None:
            fail("amount", "invalid_type", "must be a number")
        elif number < 0:
            fail("amount", "negative", "must not be negative")
        elif number >= MAX_AMOUNT:
            fail("amount", "too_large", f"must be below {MAX_AMOUNT:g}")
        else:
            try:
                clean["amount"] = Decimal(str(number)).quantize(Decimal("0.01"))
            except InvalidOperation:
                fail("amount", "invalid", "is not a valid amount")
            else:
                if clean["amount"] >= Decimal(MAX_AMOUNT):  # 999999999999.999 rounds up to 1e12
                    fail("amount", "too_large", f"must be below {MAX_AMOUNT:g} once rounded to cents")

    currency = raw.get("currency")
    clean["currency"] = ""
    if currency not in (None, ""):
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            fail("currency", "invalid", "must be a three-letter ISO 4217 code such as USD")
        elif currency.upper() not in currency_codes():
            fail("currency", "unknown_currency", "is not an ISO 4217 currency code (e.g. USD, EUR, GBP)")
        else:
            clean["currency"] = currency.upper()

    kinds = event_types()
    if clean.get("event_type") and clean["event_type"] not in kinds:
        fail("event_type", "invalid_choice", f"must be one of {', '.join(kinds)} (a deployment adds types in EVENT_TYPES)")

    status = raw.get("payment_status")
    clean["payment_status"] = ""
    if status not in (None, ""):
        if status not in PAYMENT_STATUSES:
            fail("payment_status", "invalid_choice", f"must be one of {', '.join(PAYMENT_STATUSES)}")
        else:
            clean["payment_status"] = status

    ip = raw.get("ip_address")
    clean["ip_address"] = None
    if ip not in (None, ""):
        try:
            clean["ip_address"] = str(ipaddress.ip_address(ip if isinstance(ip, str) else int(ip)))
        except (ValueError, TypeError):
            fail("ip_address", "invalid", "must be an IPv4 or IPv6 address")

    for field, low, high in NUMBER_RANGES:
        value = raw.get(field)
        clean[field] = None
        if value is None:
            continue
        number = _number(value)
        if number is None:
            fail(field, "invalid_type", "must be a number")
        elif not low <= number <= high:
            fail(field, "out_of_range", f"must be between {low:g} and {high:g}")
        else:
            clean[field] = number

    attributes = raw.get("attributes")
    clean["attributes"] = {}
    if attributes is not None:
        if not isinstance(attributes, dict):
            fail("attributes", "invalid_type", "must be an object of named numbers or strings")
        elif len(attributes) > MAX_ATTRIBUTES:
            fail("attributes", "too_many", f"must have at most {MAX_ATTRIBUTES} entries")
        else:
            for key, value in attributes.items():
                key_problem = text_problem(key) or (
                    "must not be blank" if not key.strip() else
                    f"must be at most {MAX_ATTRIBUTE_KEY} characters" if len(key) > MAX_ATTRIBUTE_KEY else None
                )
                if key_problem is not None:
                    # The name itself is not echoed: it is what cannot be stored or shown.
                    fail("attributes", "invalid_key", f"each attribute name {key_problem}")
                elif not isinstance(value, (str, int, float, bool)) and value is not None:
                    fail(f"attributes.{key}", "invalid_type", "must be a number, string, boolean or null")
                elif isinstance(value, float) and not math.isfinite(value):
                    fail(f"attributes.{key}", "invalid", "must be a finite number")
                elif isinstance(value, str) and len(value) > MAX_ATTRIBUTE_TEXT:
                    fail(f"attributes.{key}", "too_long", f"must be at most {MAX_ATTRIBUTE_TEXT} characters")
                elif isinstance(value, str) and (reason := text_problem(value)) is not None:
                    fail(f"attributes.{key}", "invalid", reason)
                elif isinstance(value, int) and not isinstance(value, bool) and not INT64_RANGE[0] <= value <= INT64_RANGE[1]:
                    fail(f"attributes.{key}", "out_of_range", "must be an integer that fits in 64 bits")
            clean["attributes"] = attributes
    if problems:
        return None, problems
    return clean, []


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)  # an int beyond a double's range overflows
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    return None
