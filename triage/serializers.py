from __future__ import annotations

from rest_framework import serializers

from config.paging import MAX_OFFSET
from triage.models import Decision, Score, Tier
from triage.selectors import QueueFilters


class QueueFilterSerializer(serializers.Serializer):
    """The queue's filters, shared by the list, "Next case" and the counts."""

    date_from = serializers.DateField(required=False, help_text="Events on or after this day (YYYY-MM-DD)")
    date_to = serializers.DateField(required=False, help_text="Events on or before this day (YYYY-MM-DD)")
    amount_min = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    amount_max = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    event_type = serializers.CharField(max_length=32, required=False, allow_blank=True)
    account = serializers.CharField(max_length=128, required=False, allow_blank=True)
    q = serializers.CharField(
        max_length=128, required=False, allow_blank=True, help_text="An exact account id or event id"
    )
    assignee = serializers.CharField(
        max_length=150, required=False, allow_blank=True,
        help_text='Cases assigned to this username; "me" for yours, "-" for cases assigned to nobody',
    )

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "must be on or after date_from"})
        low, high = attrs.get("amount_min"), attrs.get("amount_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"amount_max": "must be at least amount_min"})
        return attrs

    def filters(self) -> QueueFilters:
        data = self.validated_data
        return QueueFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            amount_min=data.get("amount_min"),
            amount_max=data.get("amount_max"),
            event_type=data.get("event_type", "").strip(),
            account=data.get("account", "").strip(),
            search=data.get("q", "").strip(),
            assignee=self._assignee(data.get("assignee", "").strip()),
        )

    def _assignee(self, value: str) -> str:
        request = self.context.get("request")
        return request.user.get_username() if value == "me" and request is not None else value


class QueueQuerySerializer(QueueFilterSerializer):
    tier = serializers.ChoiceField(choices=Tier.choices, default=Tier.HIGH)
    status = serializers.ChoiceField(
        choices=["open", "escalated", "snoozed"], default="open",
        help_text="open: the tier's open cases; escalated or snoozed: those cases of every tier (tier ignored)",
    )
    view = serializers.ChoiceField(
        choices=["alerts", "accounts"], default="alerts",
        help_text="alerts: one row per scored event; accounts: one row per account's case (its undecided alerts, "
                  "in the tab of its highest tier), with the case's alert count, total expected loss and due time",
    )
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)
    since = serializers.DateTimeField(
        required=False, help_text="The `as_of` of your last poll: cases scored after it are marked new"
    )


class NextCaseQuerySerializer(QueueFilterSerializer):
    tier = serializers.ChoiceField(
        choices=Tier.choices, required=False, help_text="Only this tier; without it high, then medium, then low"
    )
    skip = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1,
        help_text="The case you are on: never handed back as the next one (its claim is released)",
    )


class QueueItemSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    event_id = serializers.CharField()
    account_id = serializers.CharField()
    timestamp = serializers.DateTimeField()
    event_type = serializers.CharField()
    amount = serializers.FloatField(allow_null=True)
    currency = serializers.CharField()
    probability = serializers.FloatField()
    risk_score = serializers.IntegerField()
    tier = serializers.CharField()
    expected_loss = serializers.FloatField()
    model_version = serializers.CharField()
    review_status = serializers.CharField()
    explanation_status = serializers.CharField()
    scored_at = serializers.DateTimeField()
    claimed_by = serializers.CharField(allow_null=True, help_text="Who is working this case now")
    claim_expires_at = serializers.DateTimeField(allow_null=True)
    assigned_to = serializers.CharField(allow_null=True, help_text="Whose case it is: only they or a manager take and decide it")
    snoozed_until = serializers.DateTimeField(allow_null=True, help_text="A snoozed case is open again then")
    is_new = serializers.BooleanField(help_text="Scored after `since`")
    sla_due_at = serializers.DateTimeField(help_text="When the case is due: its event time + the tier's CASE_SLA_HOURS")
    sla_state = serializers.ChoiceField(
        choices=["on_time", "due_soon", "breached", ""],
        help_text="breached: past due; due_soon: in the last quarter of its time; empty once decided",
    )
    # With view=accounts: the account's case this row stands for.
    alerts = serializers.IntegerField(required=False, help_text="view=accounts: the case's undecided alerts")
    alert_ids = serializers.ListField(child=serializers.IntegerField(), required=False,
                                      help_text="view=accounts: the alerts a decision on the case covers")
    case_expected_loss = serializers.FloatField(required=False, help_text="view=accounts: the alerts' expected loss, summed")
    case_max_risk_score = serializers.IntegerField(required=False)
    first_alert_at = serializers.DateTimeField(required=False, help_text="view=accounts: the first alert's event time; "
                                                                          "the case is due from it")


class QueueSerializer(serializers.Serializer):
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Open cases per tier, and `escalated` cases of every tier (each up to count_cap): in the whole "
                  "queue, or those matching the filters when any is set (`counts_filtered`)",
    )
    capped = serializers.ListField(child=serializers.CharField(), help_text="Tiers with more than count_cap open cases")
    count_cap = serializers.IntegerField()
    counts_filtered = serializers.BooleanField(help_text="`counts` are of the cases matching the filters")
    tier = serializers.CharField()
    status = serializers.CharField(help_text="open or escalated: which cases `items` lists")
    as_of = serializers.DateTimeField(help_text="Pass as `since` on the next poll")
    new_count = serializers.IntegerField(help_text="Cases of this list (tier or escalated) scored after `since` (0 without it)")
    items = QueueItemSerializer(many=True)
    has_more = serializers.BooleanField(help_text="More open cases match beyond this page")


class NextCaseSerializer(serializers.Serializer):
    case = QueueItemSerializer(allow_null=True)
    message = serializers.CharField()


class ClaimSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    claimed_by = serializers.CharField(allow_null=True)
    claim_expires_at = serializers.DateTimeField(allow_null=True)


DISPOSITION_HELP = "Why (a code of GET /api/dispositions for this verdict): required to clear or flag, none to escalate"


class DecisionInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Decision.Verdict.choices)
    scope = serializers.ChoiceField(
        choices=["alert", "case"], default="alert",
        help_text="alert: this scored event only; case: it and every other undecided alert of its account, all or nothing",
    )
    disposition = serializers.CharField(max_length=40, required=False, allow_blank=True, default="", help_text=DISPOSITION_HELP)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                 help_text="Required to escalate: why")
    expected_status = serializers.ChoiceField(
        choices=Score.ReviewStatus.choices,
        required=False,
        help_text="The case status you saw; a different current status answers 409 instead of overwriting",
    )
    assignee = serializers.CharField(
        max_length=150, required=False, allow_blank=True, default="",
        help_text="Escalations only: the reviewer (username) the case goes to; without one a manager assigns it",
    )

    def validate(self, attrs):
        if attrs["verdict"] == Decision.Verdict.ESCALATE and not attrs.get("note", "").strip():
            raise serializers.ValidationError({"note": "say why the case is escalated: a reason is required"})
        if attrs.get("assignee") and attrs["verdict"] != Decision.Verdict.ESCALATE:
            raise serializers.ValidationError({"assignee": "only an escalation names an assignee; a manager assigns cases"})
        return attrs


class DecisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction_id = serializers.IntegerField()
    verdict = serializers.CharField()
    disposition = serializers.CharField(allow_null=True)
    note = serializers.CharField()
    reviewer = serializers.CharField()
    created_at = serializers.DateTimeField()
    undo_until = serializers.DateTimeField(help_text="The decision can be undone until then")
    decided = serializers.ListField(child=serializers.IntegerField(), help_text="Every alert decided (one unless scope=case)")


class UndoOutputSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    undone_decision = serializers.IntegerField()
    review_status = serializers.CharField(help_text="The case's status after the undo")
    undone_alerts = serializers.IntegerField(help_text="Alerts put back: more than one for a decision taken with others")


class BulkInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=[Decision.Verdict.CLEAR, Decision.Verdict.FLAG])
    transaction_ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), min_length=1)
    disposition = serializers.CharField(max_length=40, required=False, allow_blank=True, default="", help_text=DISPOSITION_HELP)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_transaction_ids(self, value):
        from django.conf import settings

        if len(value) > settings.BULK_MAX_CASES:
            raise serializers.ValidationError(f"at most {settings.BULK_MAX_CASES} cases at once")
        return value


class BulkOutputSerializer(serializers.Serializer):
    verdict = serializers.CharField()
    decided = serializers.ListField(child=serializers.IntegerField())


class CommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="The comment's text (at most 5,000 characters)")


class CommentWordingSerializer(serializers.Serializer):
    body = serializers.CharField()
    until = serializers.DateTimeField(help_text="When this wording was replaced")


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    history = CommentWordingSerializer(many=True, help_text="Earlier wordings, oldest first")


class CommentListSerializer(serializers.Serializer):
    results = CommentSerializer(many=True)


class RingDecisionInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=[Decision.Verdict.CLEAR, Decision.Verdict.FLAG])
    disposition = serializers.CharField(max_length=40, required=False, allow_blank=True, default="", help_text=DISPOSITION_HELP)
    accounts = serializers.ListField(
        child=serializers.CharField(max_length=128), min_length=1, max_length=200,
        help_text="The accounts you confirmed: this case's account and linked ones from its network",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RingDecisionOutputSerializer(serializers.Serializer):
    verdict = serializers.CharField()
    accounts = serializers.ListField(child=serializers.CharField())
    decided = serializers.ListField(child=serializers.IntegerField(), help_text="The cases decided")


class DispositionSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=40)
    verdict = serializers.ChoiceField(choices=["clear", "flag"])
    label = serializers.CharField(max_length=80)
    active = serializers.BooleanField(read_only=True)
    position = serializers.IntegerField(read_only=True)


class DispositionListSerializer(serializers.Serializer):
    results = DispositionSerializer(many=True)


class DispositionChangeSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=80, required=False)
    active = serializers.BooleanField(required=False, help_text="false retires the code: decisions keep it, new ones cannot use it")
    position = serializers.IntegerField(min_value=0, max_value=1000, required=False)


CASE_SCOPE_HELP = "case (default): every undecided alert of the account; alert: this one only"


class AssignInputSerializer(serializers.Serializer):
    assignee = serializers.CharField(max_length=150, allow_null=True, allow_blank=True,
                                     help_text="A reviewer's username; null or empty takes the assignment away")
    scope = serializers.ChoiceField(choices=["alert", "case"], default="case", help_text=CASE_SCOPE_HELP)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SnoozeInputSerializer(serializers.Serializer):
    until = serializers.DateTimeField(help_text="When the case comes back open (within 30 days)")
    scope = serializers.ChoiceField(choices=["alert", "case"], default="case", help_text=CASE_SCOPE_HELP)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                 help_text="What the case waits on; kept as a comment")


class WakeInputSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["alert", "case"], default="case", help_text=CASE_SCOPE_HELP)


class WorkOutputSerializer(serializers.Serializer):
    transaction_ids = serializers.ListField(child=serializers.IntegerField(), help_text="The alerts changed")
    review_status = serializers.CharField(help_text="The case's status now")
    assigned_to = serializers.CharField(allow_null=True)
    snoozed_until = serializers.DateTimeField(allow_null=True)


class ReviewerSerializer(serializers.Serializer):
    username = serializers.CharField()
    on_shift = serializers.BooleanField()
    assigned = serializers.IntegerField(help_text="Undecided alerts assigned to them")
    manager = serializers.BooleanField()


class ReviewerListSerializer(serializers.Serializer):
    results = ReviewerSerializer(many=True)
    auto_assign_tiers = serializers.ListField(child=serializers.CharField(),
                                              help_text="Tiers the round-robin assigns to reviewers on shift; empty: off")


class ShiftSerializer(serializers.Serializer):
    on_shift = serializers.BooleanField()
