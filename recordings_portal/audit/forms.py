"""The access log's filters, read from a query string (pages, exports) or from the command line."""

from __future__ import annotations

from django import forms

from .models import Outcome
from .selectors import Filters

# Every action the portal records, offered as suggestions (the field takes any action name, or
# a prefix ending in "*"); tests/audit/test_actions.py keeps the list complete.
KNOWN_ACTIONS = (
    "recording.search",
    "recording.view",
    "recording.play",
    "recording.download",
    "recording.delete",
    "recording.vendor_delete",
    "recording.vendor_retry",
    "recording.vendor_give_up",
    "mask.request",
    "mask.approve",
    "mask.reject",
    "mask.done",
    "mask.failed",
    "mask.remote",
    "hold.set",
    "hold.lift",
    "retention.policy_change",
    "retention.run",
    "api.call",
    "api_token.create",
    "api_token.revoke",
    "auth.login",
    "auth.logout",
    "auth.login_failed",
    "auth.lockout",
    "access.denied",
    "user.create",
    "user.update",
    "user.invite",
    "user.password_set",
    "user.deactivate",
    "user.reactivate",
    "vendor_account.create",
    "vendor_account.update",
    "vendor_account.secret_change",
    "vendor_account.test",
    "vendor_account.sync",
    "vendor_account.import",
    "audit.view",
    "audit.verify",
    "audit.export",
)


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M:%S", attrs={"step": "1"})


class FilterForm(forms.Form):
    since = forms.DateTimeField(
        required=False, label="From", widget=LocalDateTimeInput(), help_text="at or after"
    )
    until = forms.DateTimeField(
        required=False, label="Until", widget=LocalDateTimeInput(), help_text="before"
    )
    actor = forms.CharField(required=False, max_length=150, label="User")
    action = forms.CharField(
        required=False,
        max_length=65,
        label="Action",
        help_text='exact, or a prefix ending in "*"',
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    recording = forms.IntegerField(required=False, min_value=1, label="Recording id")
    vendor_account = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Vendor account"
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any"), *Outcome.choices], label="Outcome"
    )
    from_id = forms.IntegerField(required=False, min_value=1, label="From event #")
    to_id = forms.IntegerField(required=False, min_value=1, label="To event #")
    actor_id = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, data=None, *, exclude: tuple[str, ...] = (), **kwargs):
        super().__init__(data, **kwargs)
        for name in exclude:
            del self.fields[name]
        if "vendor_account" in self.fields:
            from recordings_portal.vendors.models import VendorAccount

            accounts = VendorAccount.objects.order_by("name").values_list("pk", "name")
            self.fields["vendor_account"].choices = [("", "Any"), *accounts]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "Must be later than the start.")
        from_id, to_id = data.get("from_id"), data.get("to_id")
        if from_id and to_id and from_id > to_id:
            self.add_error("to_id", "Must not be lower than the first event.")
        return data

    def filters(self, **fixed) -> Filters:
        """The valid filters (call after is_valid()); `fixed` ones override what was asked."""
        values = {name: value for name, value in self.cleaned_data.items() if value}
        return Filters(**{**values, **fixed})

    @property
    def error_text(self) -> str:
        return "; ".join(
            f"{self.fields[name].label if name in self.fields else name}: {' '.join(errors)}"
            for name, errors in self.errors.items()
        )
