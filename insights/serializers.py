from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rest_framework import serializers

from config.paging import MAX_OFFSET
from insights.models import AccountRisk
from insights.periods import DEFAULT_PERIOD, MAX_DAYS, PERIOD_DAYS


class PeriodQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(
        choices=list(PERIOD_DAYS), default=DEFAULT_PERIOD,
        help_text="Days shown, ending on `end` (default: today in `tz`)",
    )
    tz = serializers.CharField(default="UTC", max_length=64, help_text="IANA time zone, e.g. Europe/Berlin")
    start = serializers.DateField(required=False, help_text="First local day (overrides period)")
    end = serializers.DateField(required=False, help_text="Last local day, inclusive")

    def validate_tz(self, value: str) -> ZoneInfo:
        if value not in _zones():
            raise serializers.ValidationError(f"unknown time zone {value!r}; use an IANA name like Europe/Berlin", code="unknown_tz")
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"unknown time zone {value!r}", code="unknown_tz") from None

    def validate(self, data):
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise serializers.ValidationError({"start": "start must not be after end"}, code="invalid_range")
            if (end - start).days + 1 > MAX_DAYS:
                raise serializers.ValidationError({"start": f"at most {MAX_DAYS} days"}, code="too_long")
        return data


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


class RoiAssumptionsSerializer(serializers.Serializer):
    cost_per_review = serializers.FloatField(min_value=0, max_value=1e6)
    friction_cost_per_false_positive = serializers.FloatField(min_value=0, max_value=1e6)
    value_of_unpriced_event = serializers.FloatField(min_value=0, max_value=1e9)


class OffboardingQuerySerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["pending", "offboarded", "kept", "all"], default="pending")
    segment = serializers.ChoiceField(choices=AccountRisk.Segment.choices, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)


class AccountDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[AccountRisk.Decision.OFFBOARDED, AccountRisk.Decision.KEPT])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
