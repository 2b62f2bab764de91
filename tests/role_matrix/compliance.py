"""Compliance pages: masking requests for the browsing roles, decisions for compliance,
deletion and retention for compliance and admin, legal holds for compliance."""

from . import Page

BROWSERS = frozenset({"supervisor", "compliance", "admin"})
COMPLIANCE = frozenset({"compliance"})
DELETERS = frozenset({"compliance", "admin"})


def a_recording():
    """A catalog row with no stored file: enough for every page to render."""
    from recordings_portal.catalog.models import Recording
    from recordings_portal.vendors.models import VendorAccount

    account, _ = VendorAccount.objects.get_or_create(
        name="Matrix compliance",
        defaults={"kind": "audian", "base_url": "https://api.audian.example/v2"},
    )
    recording, _ = Recording.objects.get_or_create(account=account, external_id="matrix-c1")
    return recording


def a_recording_id():
    return a_recording().pk


def an_account_id():
    return a_recording().account_id


def a_mask_request():
    """Asked for by the supervisor user, so the supervisor sees it and compliance decides."""
    from django.contrib.auth.models import User

    from recordings_portal.compliance.models import MaskRequest

    recording = a_recording()
    mask, _ = MaskRequest.objects.get_or_create(
        recording=recording,
        # The users fixture's supervisor; anonymous runs have no users fixture.
        requested_by=User.objects.get_or_create(username="supervisor-user")[0],
        defaults={"reason": "matrix", "spans": [{"start": 1, "end": 2, "channel": "both"}]},
    )
    return mask.pk


def a_deletion():
    from recordings_portal.compliance.models import DeletionRecord

    deletion, _ = DeletionRecord.objects.get_or_create(
        recording=a_recording(), defaults={"reason": "matrix", "source": "manual"}
    )
    return deletion.pk


RECORDING = (("pk", a_recording_id),)
MASK = (("pk", a_mask_request),)
DELETION = (("pk", a_deletion),)

PAGES = {
    "compliance:index": Page(allowed=BROWSERS),
    "compliance:queue": Page(allowed=COMPLIANCE),
    "compliance:my_requests": Page(allowed=BROWSERS),
    "compliance:mask_detail": Page(allowed=frozenset({"supervisor", "compliance"}), kwargs=MASK),
    "compliance:mask_approve": Page(method="post", allowed=COMPLIANCE, kwargs=MASK),
    "compliance:mask_reject": Page(method="post", allowed=COMPLIANCE, kwargs=MASK),
    "compliance:mask_vendor_retry": Page(method="post", allowed=COMPLIANCE, kwargs=MASK),
    "compliance:mask_vendor_give_up": Page(allowed=COMPLIANCE, kwargs=MASK),
    "compliance:recording": Page(allowed=BROWSERS, kwargs=RECORDING),
    "compliance:mask_new": Page(allowed=BROWSERS, kwargs=RECORDING),
    "compliance:delete": Page(allowed=DELETERS, kwargs=RECORDING),
    "compliance:hold": Page(method="post", allowed=COMPLIANCE, kwargs=RECORDING),
    "compliance:lift": Page(method="post", allowed=COMPLIANCE, kwargs=RECORDING),
    "compliance:deletions": Page(allowed=DELETERS),
    "compliance:deletion_retry": Page(method="post", allowed=DELETERS, kwargs=DELETION),
    "compliance:deletion_give_up": Page(allowed=DELETERS, kwargs=DELETION),
    "compliance:bulk_delete_confirm": Page(allowed=DELETERS),
    "compliance:bulk_delete": Page(method="post", allowed=DELETERS),
    "compliance:bulk_hold_confirm": Page(allowed=COMPLIANCE),
    "compliance:bulk_hold": Page(method="post", allowed=COMPLIANCE),
    "compliance:holds": Page(allowed=DELETERS),
    "compliance:retention": Page(allowed=DELETERS),
    "compliance:retention_preview": Page(allowed=DELETERS),
    "compliance:retention_edit": Page(allowed=DELETERS, kwargs=(("account_pk", an_account_id),)),
}
