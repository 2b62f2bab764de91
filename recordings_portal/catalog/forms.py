"""The search page's filter form: a plain GET form whose fields are the URL's parameters.

A value that does not parse is not an error page: the form drops it, says which one and why,
and the search runs with the rest (`notices`).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from recordings_portal.vendors.kinds import KIND_CHOICES

from .models import Direction, RecordingState
from .selectors import DEFAULT_PAGE_SIZE, DEFAULT_SORT, PAGE_SIZES, Filters

SORT_CHOICES = [
    ("-started", "Newest first"),
    ("started", "Oldest first"),
    ("-duration", "Longest first"),
    ("duration", "Shortest first"),
]
MASKED_CHOICES = [("", "Masked or not"), ("yes", "Masked only"), ("no", "Not masked")]
# Offered in the format box; any other short name is accepted as typed.
COMMON_FORMATS = ("mp3", "wav", "opus", "ogg", "m4a", "flac")
CLOCK = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d+)?)$")
MAX_DURATION = 7 * 24 * 3600.0


class DurationField(forms.Field):
    """Seconds, typed as "90", "1:30" or "1:02:03"."""

    widget = forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "e.g. 1:30"})
    default_error_messages = {
        "invalid": "enter seconds (90) or minutes:seconds (1:30)",
    }

    def to_python(self, value):
        value = (value or "").strip()
        if not value:
            return None
        match = CLOCK.match(value)
        if not match:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        hours, minutes, seconds = match.groups()
        total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
        if total > MAX_DURATION:
            raise forms.ValidationError("longer than a week: no call is", code="invalid")
        return total


def _choices(empty: str, choices) -> list[tuple[str, str]]:
    return [("", empty), *choices]


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Number, call or session id, participant…",
                "autocomplete": "off",
            }
        ),
        error_messages={"max_length": "at most 200 characters"},
    )
    account = forms.TypedChoiceField(
        label="Vendor account", required=False, coerce=int, empty_value=None
    )
    kind = forms.ChoiceField(label="Vendor", required=False, choices=_choices("Any", KIND_CHOICES))
    started_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    started_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    duration_min = DurationField(label="Duration at least", required=False)
    duration_max = DurationField(label="Duration at most", required=False)
    direction = forms.ChoiceField(
        label="Direction", required=False, choices=_choices("Any", Direction.choices)
    )
    format = forms.RegexField(
        label="Format",
        required=False,
        regex=r"^[A-Za-z0-9]{1,10}$",
        widget=forms.TextInput(attrs={"list": "formats", "autocomplete": "off"}),
        error_messages={"invalid": "a format name such as mp3 or wav"},
    )
    state = forms.ChoiceField(
        label="State", required=False, choices=_choices("Any", RecordingState.choices)
    )
    masked = forms.ChoiceField(label="Masked", required=False, choices=MASKED_CHOICES)
    sort = forms.ChoiceField(label="Sort", required=False, choices=SORT_CHOICES)
    size = forms.TypedChoiceField(
        label="Per page",
        required=False,
        coerce=int,
        empty_value=DEFAULT_PAGE_SIZE,
        choices=[(size, str(size)) for size in PAGE_SIZES],
    )

    FILTER_FIELDS = (
        "account",
        "kind",
        "started_from",
        "started_to",
        "duration_min",
        "duration_max",
        "direction",
        "format",
        "state",
        "masked",
    )

    def __init__(self, *args, accounts: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = _choices("Any", accounts)
        self.formats = COMMON_FORMATS

    def clean(self):
        data = super().clean()
        start, end = data.get("started_from"), data.get("started_to")
        if start and end and start > end:
            self.add_error("started_to", "it is before the “from” date")
        low, high = data.get("duration_min"), data.get("duration_max")
        if low is not None and high is not None and low > high:
            self.add_error("duration_max", "it is shorter than the “at least” duration")
        return data

    # --- what the view needs ------------------------------------------------------------

    def notices(self) -> list[str]:
        """One sentence per value that was dropped, naming the field and the reason."""
        self.is_valid()
        notices = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else "A value"
            shown = self.data.get(name, "")
            if name in ("sort", "size"):
                notices.append(f"Unknown {label.lower()} “{shown}”: using the default.")
            else:
                notices.append(f"Ignored {label.lower()} “{shown}”: {'; '.join(errors)}.")
        return notices

    def value(self, name: str):
        self.is_valid()
        return self.cleaned_data.get(name)

    def sort_key(self) -> str:
        return self.value("sort") or DEFAULT_SORT

    def page_size(self) -> int:
        return self.value("size") or DEFAULT_PAGE_SIZE

    def filters(self) -> Filters:
        self.is_valid()
        data = self.cleaned_data
        masked = {"yes": True, "no": False}.get(data.get("masked") or "")
        end = data.get("started_to")
        return Filters(
            q=data.get("q") or "",
            account_id=data.get("account"),
            kind=data.get("kind") or "",
            started_from=_start_of(data.get("started_from")),
            started_before=_start_of(end + timedelta(days=1)) if end else None,
            duration_min=data.get("duration_min"),
            duration_max=data.get("duration_max"),
            direction=data.get("direction") or "",
            format=(data.get("format") or "").lower(),
            state=data.get("state") or "",
            masked=masked,
        )


def _start_of(day) -> datetime | None:
    """Midnight of a day in the portal's time zone: dates are read as the people see them."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))
