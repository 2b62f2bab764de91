"""Forms check shapes (numbers, times, lists); the services decide what is allowed."""

from __future__ import annotations

import json
import re

from django import forms

from .services.spans import parse_clock

MAX_BULK = 1000
SPAN_EXAMPLE = "1:20-1:32 caller\n2:05-2:09.5 both"
SPAN_LINE = re.compile(
    r"^\s*([\d:.]+)\s*(?:-|\u2013|to)\s*([\d:.]+)\s*(caller|callee|both)?\s*$", re.I
)


class MaskRequestForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Why it must be masked, e.g. a card number read out. The approver reads it.",
    )
    # What the waveform selection posts: [{"start": s, "end": s, "channel": "caller"}, ...].
    spans = forms.CharField(widget=forms.HiddenInput, required=False)
    spans_text = forms.CharField(
        label="Spans to beep over",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": SPAN_EXAMPLE}),
        help_text="One per line: start-end and the side (caller, callee or both; both if left "
        "out). Times as 80, 1:20 or 1:20.5.",
    )
    trim_start = forms.CharField(label="Keep from", required=False)
    trim_end = forms.CharField(
        label="Keep until",
        required=False,
        help_text="Optional: only this part of the call is kept; the rest is cut away.",
    )
    delete_vendor_copy = forms.BooleanField(
        label="Also delete the vendor's copy",
        required=False,
        help_text="Otherwise an unmasked copy stays at the vendor.",
    )

    def __init__(self, *args, vendor_can_delete: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not vendor_can_delete:
            del self.fields["delete_vendor_copy"]

    def clean_spans(self) -> list:
        raw = self.cleaned_data["spans"].strip()
        if not raw:
            return []
        try:
            spans = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("The selected spans could not be read.") from None
        if not isinstance(spans, list):
            raise forms.ValidationError("The selected spans could not be read.")
        return spans

    def clean_spans_text(self) -> list:
        spans, problems = [], []
        for number, line in enumerate(self.cleaned_data["spans_text"].splitlines(), start=1):
            if not line.strip():
                continue
            match = SPAN_LINE.match(line)
            try:
                if not match:
                    raise ValueError(line)
                start, end = parse_clock(match.group(1)), parse_clock(match.group(2))
            except ValueError:
                problems.append(f"line {number} ({line.strip()!r}) is not start-end and a side")
                continue
            channel = (match.group(3) or "both").lower()
            spans.append({"start": start, "end": end, "channel": channel})
        if problems:
            raise forms.ValidationError("; ".join(problems) + ".")
        return spans

    def _clock(self, name: str) -> float | None:
        value = self.cleaned_data.get(name, "").strip()
        if not value:
            return None
        try:
            return parse_clock(value)
        except ValueError:
            self.add_error(name, "Enter seconds (80) or minutes:seconds (1:20).")
            return None

    def clean(self):
        data = super().clean()
        start, end = self._clock("trim_start"), self._clock("trim_end")
        if (start is None) != (end is None) and not self.errors:
            self.add_error("trim_end", "Give both ends of the part to keep, or neither.")
        data["trim"] = [start, end] if start is not None and end is not None else None
        data["span_list"] = [*data.get("spans", []), *data.get("spans_text", [])]
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class DecisionForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text="Required to reject: the requester reads it.",
    )


class RetentionForm(forms.Form):
    keep = forms.ChoiceField(
        choices=[("forever", "Keep forever"), ("days", "Delete after a number of days")],
        widget=forms.RadioSelect,
    )
    days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=36500,
        help_text="Counted from the call's start.",
    )

    def clean(self):
        data = super().clean()
        if data.get("keep") == "days" and not data.get("days"):
            self.add_error("days", "How many days?")
        data["keep_days"] = data.get("days") if data.get("keep") == "days" else None
        return data


def recording_ids(data) -> list[int]:
    """The ids a bulk action names: repeated `ids` fields or one comma-separated list."""
    found = []
    for value in data.getlist("ids"):
        for part in str(value).replace(",", " ").split():
            if part.isdigit():
                found.append(int(part))
    return list(dict.fromkeys(found))[:MAX_BULK]
