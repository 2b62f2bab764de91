"""Reads for the compliance pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from recordings_portal.catalog.models import Recording
from recordings_portal.vendors.connectors.registry import supports
from recordings_portal.vendors.kinds import DELETE

from .models import (
    OPEN_MASK_STATES,
    DeletionRecord,
    LegalHold,
    MaskRequest,
    MaskState,
    VendorState,
)
from .services.deletion import why_not_deletable

PREVIEW_ROWS = 50
DELETION_FILTERS = {
    "open": (VendorState.PENDING, VendorState.FAILED),
    "failed": (VendorState.FAILED,),
}


def masks_pending() -> QuerySet:
    return (
        MaskRequest.objects.filter(state=MaskState.REQUESTED)
        .select_related("recording__account", "requested_by")
        .order_by("created_at", "id")
    )


def masks_of(user) -> QuerySet:
    return MaskRequest.objects.filter(requested_by=user).select_related(
        "recording__account", "decided_by"
    )


def masks_vendor_open() -> QuerySet:
    return MaskRequest.objects.filter(
        vendor_state__in=(VendorState.PENDING, VendorState.FAILED)
    ).select_related("recording__account")


def deletions(show: str = "") -> QuerySet:
    rows = DeletionRecord.objects.select_related("recording__account", "deleted_by", "gave_up_by")
    if show in DELETION_FILTERS:
        rows = rows.filter(vendor_state__in=DELETION_FILTERS[show])
    return rows


def holds(show_lifted: bool = False) -> QuerySet:
    rows = LegalHold.objects.select_related("recording__account", "set_by", "lifted_by")
    return rows if show_lifted else rows.filter(lifted_at__isnull=True)


def overview(user) -> dict:
    """The counts the compliance home page shows, for what the user may act on."""
    counts = {"my_open": masks_of(user).filter(state__in=OPEN_MASK_STATES).count()}
    if user.has_perm("compliance.approve_masking"):
        counts["pending"] = masks_pending().count()
        counts["mask_vendor_open"] = masks_vendor_open().count()
    if user.has_perm("compliance.delete_recordings"):
        counts["vendor_open"] = deletions("open").count()
        counts["vendor_failed"] = deletions("failed").count()
    if user.has_perm("compliance.hold_recordings") or user.has_perm("compliance.delete_recordings"):
        counts["holds"] = holds().count()
    return counts


@dataclass
class VendorGroup:
    account: object
    count: int = 0
    at_vendor: bool = False


@dataclass
class BulkSummary:
    """What a bulk deletion of these ids would do, before anyone confirms it."""

    ids: list[int]
    deletable: list = field(default_factory=list)
    refused: list[tuple[Recording, str]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    groups: list[VendorGroup] = field(default_factory=list)


def bulk_delete_summary(ids: list[int]) -> BulkSummary:
    summary = BulkSummary(ids=ids)
    found = Recording.objects.filter(id__in=ids).select_related("account").order_by("id")
    by_id = {recording.id: recording for recording in found}
    summary.missing = [i for i in ids if i not in by_id]
    masking = set(
        MaskRequest.objects.filter(recording_id__in=ids, state=MaskState.PROCESSING).values_list(
            "recording_id", flat=True
        )
    )
    groups: dict[int, VendorGroup] = {}
    for recording in by_id.values():
        # One query for the common case; the few refusals explain themselves one by one.
        doubtful = recording.state == "deleted" or recording.legal_hold or recording.id in masking
        problem = why_not_deletable(recording) if doubtful else ""
        if problem:
            summary.refused.append((recording, problem))
            continue
        summary.deletable.append(recording)
        group = groups.setdefault(
            recording.account_id,
            VendorGroup(recording.account, at_vendor=supports(recording.account.kind, DELETE)),
        )
        group.count += 1
    summary.groups = sorted(groups.values(), key=lambda group: group.account.name)
    return summary


def bulk_hold_summary(ids: list[int], lift: bool) -> tuple[list, list, list[int]]:
    """(recordings that change, recordings already so, missing ids)."""
    found = list(Recording.objects.filter(id__in=ids).select_related("account").order_by("id"))
    present = {recording.id for recording in found}
    change = [r for r in found if r.legal_hold == lift]
    same = [r for r in found if r.legal_hold != lift]
    return change, same, [i for i in ids if i not in present]
