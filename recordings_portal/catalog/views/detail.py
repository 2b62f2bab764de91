"""One recording's page: what the vendor and the download told us about the call, the player
when there is audio, download links, and a way back to the search it was found by."""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qsl, urlencode

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from recordings_portal.accounts.roles import capability
from recordings_portal.audit.log import record
from recordings_portal.compliance.models import MaskState
from recordings_portal.compliance.views import open_mask_requests, vendor_outlook
from recordings_portal.vendors.connectors.registry import supports
from recordings_portal.vendors.kinds import DELETE

from ..models import Recording, RecordingState

MAX_BACK_CHARS = 2000
MAX_BACK_FIELDS = 50
# Lane of a masked span: 0 is the caller (left channel), 1 the callee (right).
_LANES = {"0": 0, "caller": 0, "left": 0, "1": 1, "callee": 1, "right": 1}


@capability("catalog.browse_recordings")
@require_GET
def recording_detail(request, pk: int):
    # The deletion tombstone (if any) comes in the same query, for the compliance box.
    related = ("account", "deletion__deleted_by", "deletion__gave_up_by")
    recording = get_object_or_404(Recording.objects.select_related(*related), pk=pk)
    record("recording.view", request=request, obj=recording)
    can_play = request.user.has_perm("catalog.play_recording")
    spans = masked_spans(recording.metadata)
    show_player = can_play and recording.playable
    context = {
        "recording": recording,
        "back_url": back_link(request.GET.get("back", "")),
        "can_play": can_play,
        "show_player": show_player,
        "is_masked": recording.state == RecordingState.MASKED,
        "is_failed": recording.state == RecordingState.FAILED,
        "duration_text": clock(recording.duration),
        "participants": [_text(item) for item in recording.participants or []],
        "metadata_json": _pretty(recording.metadata),
        "masked_spans": spans,
        "masked_span_texts": [_span_text(span) for span in spans],
        "masked_spans_json": json.dumps(spans),
        "lanes": ["Caller", "Callee"] if recording.channels == 2 else ["Audio"],
        **compliance_context(request.user, recording, show_player),
    }
    name = "catalog/detail.html#recording" if request.htmx else "catalog/detail.html"
    return render(request, name, context)


def compliance_context(user, recording: Recording, show_player: bool) -> dict:
    """The compliance box and the player's masking mode, for users with a compliance permission.

    One query: the open masking requests. Legal hold is a column of the recording and the
    deletion tombstone came with it. The masking service checks everything again on posting.
    """
    if not user.has_module_perms("compliance"):
        return {"compliance": None}
    open_masks = open_mask_requests(recording, user)
    processing = any(mask.state == MaskState.PROCESSING for mask in open_masks)
    mask_blocked = ""
    if recording.legal_hold:
        mask_blocked = "It is under legal hold: masking waits until the hold is lifted."
    elif processing:
        mask_blocked = "It is being masked right now; ask again once that has finished."
    can_mask = (
        show_player
        and bool(recording.duration)
        and user.has_perm("compliance.request_masking")
        and not mask_blocked
    )
    return {
        "compliance": {
            "open_masks": open_masks,
            "deletion": getattr(recording, "deletion", None),
            "mask_blocked": mask_blocked,
        },
        "can_mask": can_mask,
        "mask_vendor_can_delete": can_mask and supports(recording.account.kind, DELETE),
        "mask_vendor_outlook": vendor_outlook(recording) if can_mask else "",
    }


def back_link(raw: str) -> str:
    """The search page with the filters it passed along, or the plain search page.

    Only a query string is taken, and it is rebuilt from its decoded fields, so whatever was
    sent (`//evil.example`, `javascript:`, a full URL) ends up as an inert field of our own
    search URL: the link cannot point anywhere else.
    """
    search = reverse("catalog:search")
    query = raw.strip().removeprefix("?")
    if not query or len(query) > MAX_BACK_CHARS:
        return search
    try:
        fields = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_BACK_FIELDS)
    except ValueError:
        return search
    rebuilt = urlencode([(key, value) for key, value in fields if key and key != "back"])
    return f"{search}?{rebuilt}" if rebuilt else search


def masked_spans(metadata) -> list[dict]:
    """`metadata["masked_spans"]` as [{start, end, lane}] in seconds; lane None is every lane.

    Compliance writes these; anything malformed is left out rather than drawn wrongly.
    """
    raw = metadata.get("masked_spans") if isinstance(metadata, dict) else None
    spans = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            start, end = float(item.get("start")), float(item.get("end"))
        except (TypeError, ValueError):
            continue
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start or end <= 0:
            continue
        channel = item.get("channel")
        lane = None if channel is None else _LANES.get(str(channel).strip().lower())
        spans.append({"start": max(0.0, start), "end": end, "lane": lane})
    return sorted(spans, key=lambda span: span["start"])


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _span_text(span: dict) -> str:
    lane = {0: "caller", 1: "callee"}.get(span["lane"], "both sides")
    return f"{clock(span['start'])} to {clock(span['end'])}, {lane}"


def _text(item) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return ", ".join(f"{key}: {value}" for key, value in item.items())
    return str(item)


def _pretty(value) -> str:
    # Shown in a <pre> and escaped by the template like any other text.
    return json.dumps(value or {}, indent=2, sort_keys=True, ensure_ascii=False, default=str)
