"""Compliance pages: masking requests and their queue, deletions, legal holds, retention.

Thin views over compliance.services: each checks its permission (a client can post to any
URL), calls one service, and answers with the page, or for htmx with a named partial of the
same template. Services refuse with a reason (Refused); the views show it as it is.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from recordings_portal.accounts.roles import capability
from recordings_portal.audit.log import record
from recordings_portal.catalog.models import Recording
from recordings_portal.vendors.connectors.registry import supports
from recordings_portal.vendors.kinds import DELETE, REMOTE_MASK
from recordings_portal.vendors.models import VendorAccount

from . import selectors
from .forms import DecisionForm, MaskRequestForm, ReasonForm, RetentionForm, recording_ids
from .models import OPEN_MASK_STATES, DeletionRecord, MaskRequest, RetentionPolicy
from .services import Refused
from .services.deletion import recording_delete, recordings_delete, why_not_deletable
from .services.holds import holds_lift, holds_set
from .services.masking import (
    mask_request_approve,
    mask_request_create,
    mask_request_reject,
    why_not_maskable,
)
from .services.retention import retention_policy_set, retention_preview
from .services.spans import describe
from .services.vendor import vendor_give_up, vendor_retry

REQUEST = "compliance.request_masking"
APPROVE = "compliance.approve_masking"
DELETE_PERM = "compliance.delete_recordings"
HOLD = "compliance.hold_recordings"
RETENTION = "compliance.manage_retention"
LIST_LENGTH = 200
PLAYER_PROBLEMS = "mask-problems"  # the id of the player's error box (catalog/detail.html)
MESSAGE_REFUSALS = 10


def _page(request, template: str, partial: str | None, context: dict, status: int = 200):
    """The whole page, or only the named partial when htmx asks for it."""
    name = f"{template}#{partial}" if request.htmx and partial else template
    return render(request, name, context, status=status)


def _require_any(user, *perms: str) -> None:
    if not any(user.has_perm(perm) for perm in perms):
        raise PermissionDenied


def _recording(pk: int) -> Recording:
    return get_object_or_404(Recording.objects.select_related("account"), pk=pk)


def _refusals(refused: dict[int, str]) -> str:
    shown = [f"#{rid}: {why}" for rid, why in list(refused.items())[:MESSAGE_REFUSALS]]
    more = len(refused) - len(shown)
    return " ".join(shown) + (f" … and {more} more." if more > 0 else "")


# --- home --------------------------------------------------------------------------------


@require_GET
def index(request):
    if not request.user.has_module_perms("compliance"):
        raise PermissionDenied
    return render(request, "compliance/index.html", {"counts": selectors.overview(request.user)})


# --- one recording -----------------------------------------------------------------------


def vendor_outlook(recording: Recording) -> str:
    """What masking does to the vendor's copy of this recording, said before asking."""
    label = recording.account.kind_label
    if supports(recording.account.kind, REMOTE_MASK):
        return (
            f"{label} is asked to mask its own copy too (possible only while its temporary copy "
            "exists; the request page says how it went)."
        )
    if supports(recording.account.kind, DELETE):
        return f"{label} keeps an unmasked copy unless you choose to delete it there."
    return f"{label} offers no API to mask or delete its copy: an unmasked copy remains at {label}."


def open_mask_requests(recording: Recording, user) -> list[MaskRequest]:
    """The recording's open masking requests (one query), each saying if `user` may open it."""
    masks = list(
        recording.mask_requests.filter(state__in=OPEN_MASK_STATES)
        .select_related("requested_by")
        .order_by("created_at", "id")
    )
    approver = user.has_perm(APPROVE)
    for mask in masks:
        mask.may_open = approver or mask.requested_by_id == user.id
    return masks


@capability("catalog.browse_recordings")
@require_GET
def recording_page(request, pk: int):
    recording = _recording(pk)
    record("recording.view", request=request, obj=recording, details={"page": "compliance"})
    user = request.user
    context = {
        "recording": recording,
        "masks": recording.mask_requests.select_related("requested_by", "decided_by"),
        "deletion": DeletionRecord.objects.filter(recording=recording).first(),
        "holds": recording.legal_holds.select_related("set_by", "lifted_by")
        if user.has_perm(HOLD) or user.has_perm(DELETE_PERM)
        else None,
        "not_maskable": why_not_maskable(recording),
        "not_deletable": why_not_deletable(recording),
        "reason_form": ReasonForm(),
    }
    return render(request, "compliance/recording.html", context)


# --- masking requests --------------------------------------------------------------------


@capability(REQUEST)
@require_http_methods(["GET", "POST"])
def mask_new(request, pk: int):
    recording = _recording(pk)
    can_delete = supports(recording.account.kind, DELETE)
    data = request.POST if request.method == "POST" else None
    form = MaskRequestForm(data, vendor_can_delete=can_delete)
    # The recording page's player posts here too; it keeps its own form and wants only the
    # problems back (into its #mask-problems box), not this page's text form.
    from_player = bool(request.htmx) and request.htmx.target == PLAYER_PROBLEMS
    if data is not None and form.is_valid():
        try:
            mask = mask_request_create(
                recording=recording,
                user=request.user,
                reason=form.cleaned_data["reason"],
                spans=form.cleaned_data["span_list"],
                trim=form.cleaned_data["trim"],
                delete_vendor_copy=form.cleaned_data.get("delete_vendor_copy", False),
                request=request,
            )
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            if from_player:
                # The notice replaces the player's whole masking panel (also #mask-form), and
                # the recording page's list of open requests is swapped for the new one.
                context = {
                    "recording": recording,
                    "created": mask,
                    "open_masks": open_mask_requests(recording, request.user),
                }
                response = render(request, "compliance/mask_new.html#player-created", context)
                return reswap(retarget(response, "#mask-form"), "outerHTML")
            if request.htmx:
                context = {"recording": recording, "created": mask}
                return render(request, "compliance/mask_new.html#mask-form", context)
            messages.success(
                request, "Masking requested. Someone else in compliance must approve it."
            )
            return redirect("compliance:mask_detail", pk=mask.pk)
    if from_player and form.errors:
        # 200: htmx swaps only 2xx answers (the plain form below says 400).
        return render(request, "compliance/mask_new.html#mask-problems", {"form": form})
    context = {
        "recording": recording,
        "form": form,
        "not_maskable": why_not_maskable(recording),
        "vendor_outlook": vendor_outlook(recording),
        "masked_spans": (recording.metadata or {}).get("masked_spans") or [],
    }
    status = 400 if form.errors else 200
    return _page(request, "compliance/mask_new.html", "mask-form", context, status)


@require_GET
def mask_detail(request, pk: int):
    mask = get_object_or_404(
        MaskRequest.objects.select_related("recording__account", "requested_by", "decided_by"),
        pk=pk,
    )
    if mask.requested_by_id != request.user.id:
        _require_any(request.user, APPROVE)
    context = {"mask": mask, "spans_text": describe(mask.spans)}
    return render(request, "compliance/mask_detail.html", context)


@capability(APPROVE)
@require_GET
def queue(request):
    context = {"rows": selectors.masks_pending()[:LIST_LENGTH]}
    return _page(request, "compliance/queue.html", "queue", context)


@capability(REQUEST)
@require_GET
def my_requests(request):
    rows = selectors.masks_of(request.user)[:LIST_LENGTH]
    return render(request, "compliance/my_requests.html", {"rows": rows})


def _decision(request, pk: int, decide, done: str):
    form = DecisionForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            decide(
                mask_request_id=pk,
                user=request.user,
                note=form.cleaned_data["note"],
                request=request,
            )
        except Refused as exc:
            error = exc.message
    else:
        error = "The note is too long."
    mask = get_object_or_404(MaskRequest.objects.select_related("recording__account"), pk=pk)
    if request.htmx:
        context = {"row": mask, "error": error}
        return render(request, "compliance/queue.html#row", context)
    if error:
        messages.error(request, f"Masking request {pk}: {error}")
    else:
        messages.success(request, f"Masking request {pk} {done}.")
    return redirect("compliance:queue")


@capability(APPROVE)
@require_POST
def mask_approve(request, pk: int):
    return _decision(request, pk, mask_request_approve, "approved: it is being masked")


@capability(APPROVE)
@require_POST
def mask_reject(request, pk: int):
    return _decision(request, pk, mask_request_reject, "rejected")


# --- vendor changes: retry and give up -------------------------------------------------------


def _vendor_retry(request, row, back: str):
    try:
        vendor_retry(row, user=request.user, request=request)
    except Refused as exc:
        messages.error(request, exc.message)
    else:
        from .tasks import delete_at_vendor, enqueue, mask_at_vendor

        task = mask_at_vendor if isinstance(row, MaskRequest) else delete_at_vendor
        enqueue(task, row.id)
        messages.success(request, "Trying the vendor again.")
    return redirect(back)


def _vendor_give_up(request, row, back: str):
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            vendor_give_up(
                row, user=request.user, reason=form.cleaned_data["reason"], request=request
            )
        except Refused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Given up. The reason is kept with the record.")
        return redirect(back)
    context = {"row": row, "form": form, "back": back}
    return render(request, "compliance/give_up.html", context, status=400 if form.errors else 200)


@capability(APPROVE)
@require_POST
def mask_vendor_retry(request, pk: int):
    mask = get_object_or_404(MaskRequest.objects.select_related("recording"), pk=pk)
    return _vendor_retry(request, mask, mask_detail_url(mask))


@capability(APPROVE)
@require_http_methods(["GET", "POST"])
def mask_vendor_give_up(request, pk: int):
    mask = get_object_or_404(MaskRequest.objects.select_related("recording__account"), pk=pk)
    return _vendor_give_up(request, mask, mask_detail_url(mask))


def mask_detail_url(mask) -> str:
    return reverse("compliance:mask_detail", args=[mask.pk])


@capability(DELETE_PERM)
@require_POST
def deletion_retry(request, pk: int):
    deletion = get_object_or_404(DeletionRecord.objects.select_related("recording"), pk=pk)
    return _vendor_retry(request, deletion, reverse("compliance:deletions"))


@capability(DELETE_PERM)
@require_http_methods(["GET", "POST"])
def deletion_give_up(request, pk: int):
    deletion = get_object_or_404(DeletionRecord.objects.select_related("recording__account"), pk=pk)
    return _vendor_give_up(request, deletion, reverse("compliance:deletions"))


# --- deletion ----------------------------------------------------------------------------


@capability(DELETE_PERM)
@require_http_methods(["GET", "POST"])
def delete(request, pk: int):
    recording = _recording(pk)
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            recording_delete(
                recording_id=recording.id,
                user=request.user,
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Recording {recording.external_id} deleted.")
            return redirect("compliance:recording", pk=recording.pk)
    context = {
        "recording": recording,
        "form": form,
        "not_deletable": why_not_deletable(recording),
        "at_vendor": supports(recording.account.kind, DELETE),
    }
    return render(request, "compliance/delete.html", context, status=400 if form.errors else 200)


@capability(DELETE_PERM)
@require_GET
def deletions(request):
    show = request.GET.get("show", "")
    show = show if show in selectors.DELETION_FILTERS else ""
    rows = list(selectors.deletions(show)[:LIST_LENGTH])
    context = {
        "rows": rows,
        "show": show,
        "polling": any(row.vendor_state == "vendor_pending" for row in rows),
    }
    return _page(request, "compliance/deletions.html", "deletions", context)


@capability(DELETE_PERM)
@require_http_methods(["GET", "POST"])
def bulk_delete_confirm(request):
    """What the search page's selection would delete, and the form that confirms it."""
    ids = recording_ids(request.POST if request.method == "POST" else request.GET)
    context = {"summary": selectors.bulk_delete_summary(ids), "form": ReasonForm()}
    return render(request, "compliance/bulk_delete.html", context)


@capability(DELETE_PERM)
@require_POST
def bulk_delete(request):
    ids = recording_ids(request.POST)
    form = ReasonForm(request.POST)
    if not ids or not form.is_valid():
        context = {"summary": selectors.bulk_delete_summary(ids), "form": form}
        return render(request, "compliance/bulk_delete.html", context, status=400)
    result = recordings_delete(
        recording_ids=ids, user=request.user, reason=form.cleaned_data["reason"], request=request
    )
    if result.deleted:
        messages.success(request, f"Deleted {len(result.deleted)} recording(s).")
    if result.refused:
        messages.warning(request, f"{len(result.refused)} not deleted. {_refusals(result.refused)}")
    return redirect("compliance:deletions")


# --- legal hold --------------------------------------------------------------------------


def _hold_change(request, ids: list[int], *, lift: bool):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why: the reason is kept in the hold's history.")
        return None
    change = holds_lift if lift else holds_set
    try:
        reason = form.cleaned_data["reason"]
        return change(recording_ids=ids, user=request.user, reason=reason, request=request)
    except Refused as exc:
        messages.error(request, exc.message)
        return None


@capability(HOLD)
@require_POST
def hold(request, pk: int):
    recording = _recording(pk)
    result = _hold_change(request, [recording.id], lift=False)
    if result is not None:
        if result.changed:
            messages.success(request, "Legal hold set: nothing deletes or masks it now.")
        else:
            messages.info(request, "It was already under legal hold.")
    return redirect("compliance:recording", pk=recording.pk)


@capability(HOLD)
@require_POST
def lift(request, pk: int):
    recording = _recording(pk)
    result = _hold_change(request, [recording.id], lift=True)
    if result is not None:
        messages.success(request, "Legal hold lifted." if result.changed else "It was not held.")
    return redirect("compliance:recording", pk=recording.pk)


@require_GET
def holds(request):
    _require_any(request.user, HOLD, DELETE_PERM)
    show_lifted = request.GET.get("show") == "all"
    rows = selectors.holds(show_lifted)[:LIST_LENGTH]
    return render(request, "compliance/holds.html", {"rows": rows, "show_lifted": show_lifted})


@capability(HOLD)
@require_http_methods(["GET", "POST"])
def bulk_hold_confirm(request):
    data = request.POST if request.method == "POST" else request.GET
    lift_them = data.get("action") == "lift"
    ids = recording_ids(data)
    change, same, missing = selectors.bulk_hold_summary(ids, lift_them)
    context = {
        "ids": ids,
        "lift": lift_them,
        "change": change,
        "same": same,
        "missing": missing,
        "form": ReasonForm(),
    }
    return render(request, "compliance/bulk_hold.html", context)


@capability(HOLD)
@require_POST
def bulk_hold(request):
    lift_them = request.POST.get("action") == "lift"
    ids = recording_ids(request.POST)
    result = _hold_change(request, ids, lift=lift_them) if ids else None
    if result is not None:
        verb = "lifted from" if lift_them else "set on"
        messages.success(request, f"Legal hold {verb} {len(result.changed)} recording(s).")
        if result.unchanged:
            already = "were not held" if lift_them else "were already held"
            messages.info(request, f"{len(result.unchanged)} {already}.")
    elif not ids:
        messages.error(request, "No recordings were selected.")
    return redirect("compliance:holds")


# --- retention ---------------------------------------------------------------------------


@capability(RETENTION)
@require_GET
def retention(request):
    policies = {p.account_id: p for p in RetentionPolicy.objects.select_related("updated_by")}
    rows = [
        {"account": account, "policy": policies.get(account.id)}
        for account in VendorAccount.objects.order_by("name")
    ]
    return render(request, "compliance/retention.html", {"rows": rows})


@capability(RETENTION)
@require_http_methods(["GET", "POST"])
def retention_edit(request, account_pk: int):
    account = get_object_or_404(VendorAccount, pk=account_pk)
    policy = RetentionPolicy.objects.filter(account=account).first()
    keep_days = policy.keep_days if policy else None
    initial = {"keep": "days" if keep_days else "forever", "days": keep_days}
    form = RetentionForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            retention_policy_set(
                account=account,
                keep_days=form.cleaned_data["keep_days"],
                user=request.user,
                request=request,
            )
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Retention of {account.name} saved.")
            return redirect("compliance:retention")
    context = {"account": account, "policy": policy, "form": form}
    return render(
        request, "compliance/retention_edit.html", context, status=400 if form.errors else 200
    )


@capability(RETENTION)
@require_GET
def retention_preview_page(request):
    context = {"previews": retention_preview()}
    return _page(request, "compliance/retention_preview.html", "preview", context)
