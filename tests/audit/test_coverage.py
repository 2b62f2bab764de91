"""Every URL pattern records access events, or says why it needs none.

Adding a URL pattern without a line in RECORDS or QUIET fails
test_every_url_pattern_is_accounted_for. RECORDS names the request that performs a page's action
(for a form page, the POST) and the event it must append; the test makes that request on a
success path and fails if nothing was recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from recordings_portal.audit.models import AccessEvent
from tests.accounts.test_role_matrix import MATRIX, page_url, url_names
from tests.conftest import PASSWORD
from tests.role_matrix.catalog_player import a_playable_recording
from tests.role_matrix.compliance import a_deletion, a_mask_request, a_recording, a_recording_id
from tests.role_matrix.users import a_user


@dataclass(frozen=True)
class Visit:
    action: str  # the access event this request must append
    # Default: the first of the page's allowed roles (sorted); None on a public page: anonymous.
    role: str | None = None
    method: str | None = None  # default: the matrix page's method; "post" when data is given
    data: Callable | dict | None = None  # form data, or a function(users) -> dict
    # A function(client, users) -> URL when the matrix's is not the right one.
    url: Callable | None = None
    headers: Callable | dict | None = None  # or a function(users) -> dict
    session: bool = True  # False: no session cookie (the API knows its caller by the token alone)
    actor: str | None = None  # the event's username when it is not the visitor's
    outcome: str = "success"  # the event's outcome
    settings: dict | None = None  # Django settings for this request


# --- what the requests need, beyond the role matrix's factories ------------------------------


def _url(name: str, **kwargs) -> Callable:
    """A URL whose kwargs are made when the test runs: {name: a function creating the object}."""
    return lambda client, users: reverse(name, kwargs={k: make() for k, make in kwargs.items()})


def a_decidable_mask():
    """Requested by supervisor-user on a recording that can be masked (approval checks it)."""
    from django.contrib.auth.models import User

    from recordings_portal.compliance.models import MaskRequest

    recording_id = a_playable_recording()
    mask = MaskRequest.objects.create(
        recording_id=recording_id,
        requested_by=User.objects.get(username="supervisor-user"),
        reason="coverage",
        spans=[{"start": 0.1, "end": 0.2, "channel": "both"}],
    )
    return mask.pk


def _vendor_failed(model, pk: int, action: str) -> int:
    # vendor_retry() takes only a failed change; vendor_give_up() a pending or failed one.
    from recordings_portal.compliance.models import VendorState

    model.objects.filter(pk=pk).update(vendor_action=action, vendor_state=VendorState.FAILED)
    return pk


def a_failed_vendor_mask():
    from recordings_portal.compliance.models import MaskRequest, VendorAction

    return _vendor_failed(MaskRequest, a_mask_request(), VendorAction.REMOTE_MASK)


def a_failed_vendor_deletion():
    from recordings_portal.compliance.models import DeletionRecord, VendorAction

    return _vendor_failed(DeletionRecord, a_deletion(), VendorAction.DELETE)


def a_held_recording():
    recording = a_recording()
    type(recording).objects.filter(pk=recording.pk).update(legal_hold=True)
    return recording.pk


def an_inactive_user():
    from django.contrib.auth.models import User

    User.objects.filter(pk=a_user()).update(is_active=False)
    return a_user()


def _account(**fields) -> int:
    from recordings_portal.vendors.services import account_create

    return account_create(**fields).pk


def a_kaleyra_account():
    return _account(
        name="Coverage Kaleyra",
        kind="kaleyra",
        base_url="https://api.kaleyra.io",
        config={"sid": "HXCOVERAGE"},
        secrets={"api_key": "kaleyra-coverage-key"},
    )


def a_loopback_account():
    """Nothing listens on the discard port: the connection is refused at once."""
    return _account(
        name="Coverage loopback",
        kind="flyflow",
        base_url="http://127.0.0.1:9",
        secrets={"api_key": "ff_live_coverage_0000"},
    )


# A Kaleyra call report with one answered call (the columns tests/catalog/test_imports.py uses).
KALEYRA_REPORT = (
    b"ID,Call ID,From,To,Start Time,Status\r\n"
    b"AAAA==,c-1,+14155550100,+14155552001,2024-05-03 10:00:00,Answered\r\n"
)


def an_admin_token(client, users):
    from recordings_portal.api.tokens import token_create

    token, _ = token_create(user=users["admin"], name="coverage")
    return reverse("api:token-revoke", kwargs={"pk": token.pk})


def bearer(users):
    from recordings_portal.api.tokens import token_create

    return {"Authorization": f"Bearer {token_create(user=users['supervisor'], name='coverage')[1]}"}


def an_opened_invitation(client, users):
    """The invitee opens their link: the token goes into the session, the address loses it."""
    from django.contrib.auth.models import User

    from recordings_portal.accounts.services import user_invite

    invitee = User.objects.create_user("coverage-invitee")
    opened = client.get(user_invite(invitee, actor=users["admin"]).path)
    assert opened.status_code == 302
    return opened["Location"]


API = {"session": False, "role": "supervisor", "headers": bearer}
REASON = {"reason": "coverage"}

RECORDS: dict[str, Visit] = {
    # accounts: sign in and out, users
    "accounts:login": Visit(
        "auth.login",
        data={"username": "supervisor-user", "password": PASSWORD},
        actor="supervisor-user",
    ),
    "accounts:logout": Visit("auth.logout"),
    "accounts:set_password": Visit(
        "user.password_set",
        url=an_opened_invitation,
        data={"new_password1": PASSWORD, "new_password2": PASSWORD},
        actor="coverage-invitee",
    ),
    "accounts:user_add": Visit(
        "user.create",
        data={"username": "coverage-new", "roles": ["supervisor"], "access": "invite"},
    ),
    "accounts:user_edit": Visit(
        "user.update", data={"first_name": "Changed", "roles": ["auditor"]}
    ),
    "accounts:user_deactivate": Visit("user.deactivate"),
    "accounts:user_reactivate": Visit(
        "user.reactivate", url=_url("accounts:user_reactivate", pk=an_inactive_user)
    ),
    "accounts:user_link": Visit("user.invite"),
    # catalog: search, the recording page, its audio
    "catalog:search": Visit("recording.search", data={"q": "matrix"}, method="get"),
    "catalog:detail": Visit("recording.view"),
    "catalog:stream": Visit("recording.play"),
    "catalog:download": Visit("recording.download"),
    "catalog:stream_authorisation": Visit(
        "recording.play", role="supervisor", settings={"MEDIA_AUTH_REQUEST_SECONDS": 60}
    ),
    # compliance: masking, deletion, holds, retention
    "compliance:recording": Visit("recording.view"),
    "compliance:mask_new": Visit(
        "mask.request",
        url=_url("compliance:mask_new", pk=a_playable_recording),
        data={"reason": "card read out", "spans_text": "0.2-0.6 both"},
    ),
    # Four eyes: supervisor-user asked, so compliance-user may decide.
    "compliance:mask_approve": Visit(
        "mask.approve", url=_url("compliance:mask_approve", pk=a_decidable_mask)
    ),
    "compliance:mask_reject": Visit("mask.reject", data={"note": "not needed"}),
    "compliance:mask_vendor_retry": Visit(
        "recording.vendor_retry", url=_url("compliance:mask_vendor_retry", pk=a_failed_vendor_mask)
    ),
    "compliance:mask_vendor_give_up": Visit(
        "recording.vendor_give_up",
        url=_url("compliance:mask_vendor_give_up", pk=a_failed_vendor_mask),
        data=REASON,
    ),
    "compliance:delete": Visit("recording.delete", data=REASON),
    "compliance:deletion_retry": Visit(
        "recording.vendor_retry",
        url=_url("compliance:deletion_retry", pk=a_failed_vendor_deletion),
    ),
    "compliance:deletion_give_up": Visit(
        "recording.vendor_give_up",
        url=_url("compliance:deletion_give_up", pk=a_failed_vendor_deletion),
        data=REASON,
    ),
    "compliance:bulk_delete": Visit(
        "recording.delete", data=lambda users: {"ids": str(a_recording_id()), **REASON}
    ),
    "compliance:hold": Visit("hold.set", data=REASON),
    "compliance:lift": Visit(
        "hold.lift", url=_url("compliance:lift", pk=a_held_recording), data=REASON
    ),
    "compliance:bulk_hold": Visit(
        "hold.set", data=lambda users: {"ids": str(a_recording_id()), **REASON}
    ),
    "compliance:retention_edit": Visit(
        "retention.policy_change", data={"keep": "days", "days": "30"}
    ),
    # vendor accounts
    "vendors:add": Visit(
        "vendor_account.create",
        data={
            "kind": "flyflow",
            "name": "Coverage Flyflow",
            "base_url": "https://api.flyflow.dev/v1",
            "sync_interval_minutes": "60",
            "enabled": "on",
            "secret_api_key": "ff_live_coverage_0000",
        },
    ),
    "vendors:edit": Visit(
        "vendor_account.update",
        data={
            "name": "Matrix",
            "base_url": "https://api.flyflow.dev/v1",
            "sync_interval_minutes": "15",
            "enabled": "on",
            "secret_api_key": "",
        },
    ),
    # A failed test is recorded too, and this one fails at once, without leaving the machine.
    "vendors:test": Visit(
        "vendor_account.test",
        url=_url("vendors:test", pk=a_loopback_account),
        settings={"VENDOR_ALLOW_PRIVATE_NETWORKS": True},
        outcome="failure",
    ),
    "vendors:sync": Visit("vendor_account.sync"),
    "vendors:import": Visit(
        "vendor_account.import",
        url=_url("vendors:import", pk=a_kaleyra_account),
        data=lambda users: {"file": SimpleUploadedFile("report.csv", KALEYRA_REPORT, "text/csv")},
    ),
    # the access log
    "audit:log": Visit("audit.view"),
    "audit:recording": Visit("audit.view"),
    "audit:user": Visit("audit.view"),
    "audit:verify": Visit("audit.verify"),
    "audit:export": Visit("audit.export"),
    "audit:export-manifest": Visit("audit.export"),
    # API tokens and the API
    "api:tokens": Visit("api_token.create", data={"name": "coverage"}),
    "api:token-revoke": Visit("api_token.revoke", url=an_admin_token),
    "api:v1:list_recordings": Visit("api.call", **API),
    "api:v1:get_recording": Visit(
        "api.call", url=_url("api:v1:get_recording", recording_id=a_recording_id), **API
    ),
    "api:v1:get_recording_media": Visit(
        "api.call", url=_url("api:v1:get_recording_media", recording_id=a_playable_recording), **API
    ),
}

QUIET: dict[str, str] = {
    "healthz": "health check: no user, no recording",
    "vendor-webhook": "a vendor-authenticated machine endpoint, no user: it applies only what the "
    "vendor reports (new or updated catalog rows, account health), as a scheduled sync does, "
    "and keeps each delivery as a WebhookDelivery row",
    "dashboard:home": "aggregates; its list of recent failures links to catalog:detail, which "
    "records recording.view",
    "accounts:users": "the list of users; every change to one records user.*",
    "vendors:list": "the list of accounts with counts; a change to one records vendor_account.*",
    "vendors:detail": "the account's settings with its credentials masked (never their values); "
    "its changes, tests, syncs and imports record",
    "vendors:progress": "the sync progress bar's poll; vendors:sync recorded the sync",
    "catalog:peaks": "the waveform is fetched by the player on catalog:detail, which records "
    "recording.view; the audio itself records recording.play (catalog:stream)",
    "compliance:index": "counts of what waits for the user",
    "compliance:queue": "a list of masking requests naming recordings; its decisions record "
    "mask.approve and mask.reject, opening a recording records recording.view",
    "compliance:my_requests": "a list of the user's own masking requests",
    "compliance:mask_detail": "one masking request (who asked, why, which spans) naming its "
    "recording; the request and each decision on it are recorded (mask.*)",
    "compliance:deletions": "a list of deletion tombstones; each deletion recorded "
    "recording.delete",
    "compliance:holds": "a list of legal holds; setting and lifting record hold.set and hold.lift",
    "compliance:bulk_delete_confirm": "a confirmation page: the POST to compliance:bulk_delete "
    "records",
    "compliance:bulk_hold_confirm": "a confirmation page: the POST to compliance:bulk_hold records",
    "compliance:retention": "the list of retention policies; compliance:retention_edit records "
    "their changes",
    "compliance:retention_preview": "what the next retention run would delete; the run itself "
    "records retention.run and recording.delete",
    "api:v1:api-root": "ninja's URL prefix: always 404",
    "api:v1:openapi-json": "the API's description, no recording",
}

# URL name -> what it should record and why it does not. Empty: every view records.
MISSING: dict[str, str] = {}


def test_every_url_pattern_is_accounted_for():
    records, quiet, missing = set(RECORDS), set(QUIET), set(MISSING)
    assert not (records & quiet) and not (records & missing) and not (quiet & missing)
    patterns, accounted = set(url_names()), records | quiet | missing
    unaccounted, unknown = sorted(patterns - accounted), sorted(accounted - patterns)
    assert not unaccounted, "say in RECORDS what these record, or in QUIET why they need not"
    assert not unknown, "no such URL pattern"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Listening markers (one recording.play per listening) and the API throttle live in the
    # cache, which outlives a test: a marker left by another test would hide the play event.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch):
    # Retrying a vendor change queues a task; no worker of a later test should pick it up.
    monkeypatch.setattr("recordings_portal.compliance.tasks.enqueue", lambda task, *args: None)


def _default_role(name: str) -> str | None:
    page = MATRIX[name]
    return sorted(page.allowed)[0] if page.allowed else None


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_the_view_records_its_access_event(name, client_for, users, settings):
    visit, page = RECORDS[name], MATRIX[name]
    for setting, value in (visit.settings or {}).items():
        setattr(settings, setting, value)
    role = visit.role or _default_role(name)
    client = client_for(role if visit.session else None)
    url = visit.url(client, users) if visit.url else page_url(name)
    data = visit.data(users) if callable(visit.data) else visit.data
    headers = visit.headers(users) if callable(visit.headers) else visit.headers
    method = visit.method or ("post" if data is not None else page.method)
    last = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = getattr(client, method)(url, data, headers=headers)
    if response.streaming:  # media and exports: read to the end, which closes the file
        b"".join(response.streaming_content)

    assert response.status_code < 400, f"{method.upper()} {url}: {response.status_code}"
    appended = AccessEvent.objects.filter(id__gt=last, action=visit.action)
    assert appended.exists(), f"{method.upper()} {url} recorded no {visit.action}"
    event = appended.first()
    expected = visit.actor or (users[role].get_username() if role else "")
    assert event.actor_username == expected
    assert (event.actor.get_username() if event.actor else "") == expected
    assert event.outcome == visit.outcome, event.details
