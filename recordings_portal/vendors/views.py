"""Vendor accounts for admins: list, add, edit, test the connection, sync and watch it run.

Each view renders its whole page, or for htmx a named partial of the same template. Every
change and every connection test is written to the access log, secrets by name only.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from recordings_portal.accounts.roles import capability
from recordings_portal.audit.log import record
from recordings_portal.audit.models import Outcome
from recordings_portal.catalog.models import (
    ACTIVE_SYNC_STATES,
    RecordingState,
    SyncRun,
    SyncState,
)
from recordings_portal.catalog.services.imports import MAX_BYTES, ImportFailed, recordings_import
from recordings_portal.catalog.services.sync import active_sync

from . import crypto
from .connectors.registry import supports
from .forms import AccountForm, KindForm
from .kinds import DISCOVER, IMPORT, KIND_CHOICES, KINDS, WEBHOOKS
from .models import VendorAccount
from .services import (
    AccountInvalid,
    QueueUnavailable,
    account_create,
    account_sync_start,
    account_test_connection,
    account_update,
)

HISTORY_LENGTH = 20
# Stands for the event name in the webhook URL shown to admins (see detail.html).
WEBHOOK_PLACEHOLDER = "events"


def _page(request, template: str, partial: str | None, context: dict, status: int = 200):
    """The whole page, or only the named partial when htmx asks for it."""
    name = f"{template}#{partial}" if request.htmx and partial else template
    return render(request, name, context, status=status)


# --- list --------------------------------------------------------------------------------


@capability("vendors.view_vendoraccount")
@require_GET
def account_list(request):
    # One query for every account's counts by state, however many accounts there are.
    per_state = {
        f"n_{state}": Count("recordings", filter=Q(recordings__state=state))
        for state in RecordingState.values
    }
    accounts = VendorAccount.objects.annotate(**per_state).order_by("name")
    active = {run.account_id: run for run in SyncRun.objects.filter(state__in=ACTIVE_SYNC_STATES)}
    rows = [
        {
            "account": account,
            "counts": [
                (label, getattr(account, f"n_{state}"))
                for state, label in RecordingState.choices
                if getattr(account, f"n_{state}")
            ],
            "run": active.get(account.id),
        }
        for account in accounts
    ]
    context = {"rows": rows, "syncing": bool(active)}
    return _page(request, "vendors/list.html", "accounts", context)


# --- add and edit ------------------------------------------------------------------------


@capability("vendors.add_vendoraccount")
@require_http_methods(["GET", "POST"])
def account_add(request):
    data = request.POST if request.method == "POST" else None
    kind = (data or request.GET).get("kind", "")
    form = AccountForm(data, kind=kind) if kind in KINDS else None
    if data is not None and form is None:
        messages.error(request, "Choose which vendor the account is for.")
    if form is not None and data is not None and form.is_valid():
        secrets = form.secrets()
        try:
            with transaction.atomic():
                account = account_create(kind=kind, secrets=secrets, **form.settings())
                record(
                    "vendor_account.create",
                    request=request,
                    obj=account,
                    details={"name": account.name, "kind": kind, "secret_fields": sorted(secrets)},
                )
        except AccountInvalid as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, f"Added {account}. Test the connection to check it.")
            return redirect("vendors:detail", pk=account.pk)
    context = {
        "form": form,
        "kind": kind,
        "kind_form": KindForm(initial={"kind": kind}),
        "kind_choices": KIND_CHOICES,
        "action": reverse("vendors:add"),
    }
    status = 400 if data is not None and (form is None or form.errors) else 200
    return _page(request, "vendors/form.html", "account-form", context, status)


def _secret_names_changed(account: VendorAccount, typed: dict[str, str]) -> list[str]:
    try:
        current = account.get_secrets()
    except crypto.CredentialsUnreadable:
        current = {}
    return sorted(name for name, value in typed.items() if current.get(name) != value)


@capability("vendors.change_vendoraccount")
@require_http_methods(["GET", "POST"])
def account_edit(request, pk: int):
    account = get_object_or_404(VendorAccount, pk=pk)
    data = request.POST if request.method == "POST" else None
    form = AccountForm(data, kind=account.kind, account=account)
    if data is not None and form.is_valid():
        secrets = form.secrets()
        secret_names = _secret_names_changed(account, secrets)
        try:
            with transaction.atomic():
                changed = account_update(account, secrets=secrets, **form.settings())
                _record_update(request, account, changed, secret_names)
        except AccountInvalid as exc:
            account.refresh_from_db()  # account_update set the refused values on it
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, "Saved." if changed else "Nothing changed.")
            return redirect("vendors:detail", pk=account.pk)
    context = {
        "form": form,
        "account": account,
        "kind": account.kind,
        "secrets_unreadable": bool(account.secrets_encrypted) and not account.masked_secrets(),
        "action": reverse("vendors:edit", args=[account.pk]),
    }
    status = 400 if form.errors else 200
    return _page(request, "vendors/form.html", "account-form", context, status)


def _record_update(request, account, changed: list[str], secret_names: list[str]) -> None:
    settings_changed = [name for name in changed if name != "secrets"]
    if settings_changed:
        record(
            "vendor_account.update",
            request=request,
            obj=account,
            details={"changed": settings_changed},
        )
    if "secrets" in changed:
        # Who changed which credential and when; never the value, not even masked.
        record(
            "vendor_account.secret_change",
            request=request,
            obj=account,
            details={"fields": secret_names},
        )


# --- detail, connection test, sync -------------------------------------------------------


def _duration(run: SyncRun) -> str:
    if run.started_at is None:
        return ""
    seconds = int(((run.finished_at or timezone.now()) - run.started_at).total_seconds())
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _webhook(request, account: VendorAccount) -> dict | None:
    if not supports(account.kind, WEBHOOKS):
        return None
    kwargs = {"public_id": account.public_id, "event_path": WEBHOOK_PLACEHOLDER}
    url = request.build_absolute_uri(reverse("vendor-webhook", kwargs=kwargs))
    base = url.removesuffix(WEBHOOK_PLACEHOLDER)
    return {"url": url, "base": base, "placeholder": WEBHOOK_PLACEHOLDER}


def _detail_context(request, account: VendorAccount, **extra) -> dict:
    spec = KINDS[account.kind]
    masked = account.masked_secrets()
    runs = list(account.sync_runs.select_related("requested_by")[:HISTORY_LENGTH])
    for run in runs:
        run.duration = _duration(run)
    run = active_sync(account) or (runs[0] if runs else None)
    return {
        "account": account,
        "config_rows": [(field.label, account.config.get(field.name, "")) for field in spec.config],
        "secret_rows": [(field.label, masked.get(field.name, "")) for field in spec.secrets],
        "secrets_unreadable": bool(account.secrets_encrypted) and not masked,
        "can_sync": supports(account.kind, DISCOVER),
        "can_import": supports(account.kind, IMPORT),
        "import_limit_mb": MAX_BYTES // 2**20,
        "runs": runs,
        "run": run,
        "run_active": run is not None and run.state in ACTIVE_SYNC_STATES,
        "webhook": _webhook(request, account),
        **extra,
    }


@capability("vendors.view_vendoraccount")
@require_GET
def account_detail(request, pk: int):
    account = get_object_or_404(VendorAccount, pk=pk)
    return render(request, "vendors/detail.html", _detail_context(request, account))


@capability("vendors.view_vendoraccount")
@require_GET
def sync_progress(request, pk: int):
    """What the progress bar polls; once the run is over, history and health refresh too."""
    account = get_object_or_404(VendorAccount, pk=pk)
    context = _detail_context(request, account)
    # htmx only polls while a run is active, so a finished one here has just finished.
    context["oob"] = bool(request.htmx) and not context["run_active"]
    return _page(request, "vendors/detail.html", "progress", context)


@capability("vendors.change_vendoraccount")
@require_POST
def account_test(request, pk: int):
    account = get_object_or_404(VendorAccount, pk=pk)
    ok, message = account_test_connection(account)
    record(
        "vendor_account.test",
        request=request,
        obj=account,
        outcome=Outcome.SUCCESS if ok else Outcome.FAILURE,
        details={"message": message},
    )
    if request.htmx:
        context = {"account": account, "ok": ok, "message": message}
        return render(request, "vendors/detail.html#test-result", context)
    (messages.success if ok else messages.error)(request, message)
    return redirect("vendors:detail", pk=account.pk)


def _already_running(run: SyncRun | None) -> str:
    if run is None:
        return "A sync has just finished; start another if you need it."
    if run.state == SyncState.RUNNING:
        started = timezone.localtime(run.started_at or run.created_at)
        return f"A sync is already running, started at {started:%Y-%m-%d %H:%M:%S}."
    queued = timezone.localtime(run.created_at)
    return f"A sync is already queued (requested at {queued:%Y-%m-%d %H:%M:%S}); it starts soon."


@capability("vendors.change_vendoraccount")
@require_POST
def account_sync(request, pk: int):
    account = get_object_or_404(VendorAccount, pk=pk)
    run, refused = None, ""
    if not supports(account.kind, DISCOVER):
        refused = f"{account.kind_label} does not list its recordings, so there is nothing to sync."
    elif not account.enabled:
        refused = "This account is disabled. Enable it in its settings to sync it."
    else:
        try:
            run = account_sync_start(account, trigger="manual", user=request.user, request=request)
        except QueueUnavailable as exc:
            refused = str(exc)
        else:
            if run is None:
                refused = _already_running(active_sync(account))
    if request.htmx:
        notice = refused or "Sync queued."
        context = _detail_context(request, account, notice=notice, refused=bool(refused))
        return render(request, "vendors/detail.html#sync-panel", context)
    if refused:
        messages.warning(request, refused)
    else:
        messages.success(request, "Sync queued.")
    return redirect("vendors:detail", pk=account.pk)


@capability("vendors.change_vendoraccount")
@require_POST
def account_import(request, pk: int):
    """Import the recordings a customer's exported file names (a call report, session ids)."""
    account = get_object_or_404(VendorAccount, pk=pk)
    if not supports(account.kind, IMPORT):
        # The page offers no import for this kind: only a hand-made request gets here.
        return HttpResponseBadRequest(f"{account.kind_label} accounts do not import files.")
    upload = request.FILES.get("file")
    result, error, problems = None, "", []
    if upload is None:
        error = "Choose the file to import."
    elif upload.size > MAX_BYTES:
        # Refused before reading it: the size is known from the upload.
        error = (
            f"The file is {upload.size / 2**20:.1f} MB; files up to {MAX_BYTES // 2**20} MB are "
            "imported. Split it and import the parts."
        )
    else:
        try:
            result = recordings_import(account, upload.read(), upload.name)
        except ImportFailed as exc:
            error = exc.message
            problems = exc.problems
    record(
        "vendor_account.import",
        request=request,
        obj=account,
        outcome=Outcome.FAILURE if error else Outcome.SUCCESS,
        details={
            "file": upload.name[:200] if upload else "",
            "summary": result.summary() if result else error,
        },
    )
    context = _detail_context(
        request,
        account,
        import_result=result,
        import_error=error,
        import_problems=(result.problems if result else problems)[:50],
    )
    # htmx swaps only 2xx answers; a plain form post says 400 for what was refused.
    status = 400 if error and not request.htmx else 200
    return _page(request, "vendors/detail.html", "import-panel", context, status=status)
