"""Masking requests, deletions (tombstones), legal holds and retention policies.

A recording row is never removed: a deletion empties its storage keys, sets it DELETED and
keeps a DeletionRecord saying who, when, why and what the vendor answered, so the catalog and
the access log stay whole.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from recordings_portal.catalog.models import Recording
from recordings_portal.vendors.models import VendorAccount

USER = settings.AUTH_USER_MODEL


class VendorState(models.TextChoices):
    """What became of the vendor's copy."""

    NONE = "", "Nothing to do at the vendor"
    PENDING = "vendor_pending", "Pending at the vendor"
    FAILED = "vendor_failed", "Failed at the vendor"
    DONE = "done", "Done at the vendor"
    NO_API = "no_vendor_api", "No vendor API"
    UNMASKED = "vendor_unmasked", "Unmasked copy remains at the vendor"
    GAVE_UP = "gave_up", "Given up"


class VendorAction(models.TextChoices):
    NONE = "", "None"
    DELETE = "delete", "Delete the vendor's copy"
    REMOTE_MASK = "remote_mask", "Mask the vendor's copy"


class VendorPropagation(models.Model):
    """Carrying a change to the vendor's copy: retried with backoff, counted on the row.

    Retries live here, not in Celery (no broker counts redeliveries); a failure stays visible
    until an attempt succeeds or someone gives up, with a reason.
    """

    vendor_action = models.CharField(max_length=12, choices=VendorAction.choices, blank=True)
    vendor_state = models.CharField(max_length=16, choices=VendorState.choices, blank=True)
    vendor_receipt = models.TextField(blank=True, help_text="The vendor's answer, or why none")
    vendor_error = models.TextField(blank=True)
    vendor_attempts = models.PositiveSmallIntegerField(default=0)
    # Attempts allowed before the row turns vendor_failed; "retry" raises it for another round.
    vendor_attempt_limit = models.PositiveSmallIntegerField(default=0)
    vendor_next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the attempt until then; a dead worker's claim lapses.
    vendor_claim_token = models.UUIDField(null=True, blank=True, editable=False)
    vendor_claimed_until = models.DateTimeField(null=True, blank=True)
    vendor_done_at = models.DateTimeField(null=True, blank=True)
    gave_up_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    gave_up_at = models.DateTimeField(null=True, blank=True)
    gave_up_reason = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def vendor_open(self) -> bool:
        return self.vendor_state in (VendorState.PENDING, VendorState.FAILED)


class MaskState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    PROCESSING = "processing", "Processing"
    DONE = "done", "Done"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"


OPEN_MASK_STATES = (MaskState.REQUESTED, MaskState.APPROVED, MaskState.PROCESSING)


class MaskRequest(VendorPropagation):
    """Beep over spans of a recording (and optionally keep only a trim window).

    Approved by someone other than the requester (four eyes); the masked file then replaces
    the original, which is destroyed.
    """

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="mask_requests")
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    # [{"start": s, "end": s, "channel": "caller" | "callee" | "both"}], seconds, normalised.
    spans = models.JSONField(default=list)
    trim = models.JSONField(null=True, blank=True, help_text="[start, end] seconds kept, or null")
    delete_vendor_copy = models.BooleanField(default=False)
    # The file the spans were drawn on: a request never lands on different audio.
    source_sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=MaskState.choices, default=MaskState.REQUESTED)
    decided_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    failure_reason = models.TextField(blank=True)
    # Crash recovery: the keys before and after, so a restarted task knows how far it got.
    original_key = models.CharField(max_length=500, blank=True)
    original_peaks_key = models.CharField(max_length=500, blank=True)
    masked_key = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        permissions = [
            ("request_masking", "Request masking of recordings"),
            ("approve_masking", "Approve or reject masking requests"),
        ]
        constraints = [
            # One masking of a recording at a time, whatever the workers do.
            models.UniqueConstraint(
                fields=["recording"],
                condition=Q(state="processing"),
                name="one_masking_per_recording",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="mask_state_idx")]

    def __str__(self):
        return f"mask request {self.pk} for recording {self.recording_id} ({self.state})"


class DeletionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    BULK = "bulk", "Bulk"
    RETENTION = "retention", "Retention policy"


class DeletionRecord(VendorPropagation):
    """The tombstone of a deleted recording: who, when, why, and the vendor's receipt."""

    recording = models.OneToOneField(Recording, on_delete=models.PROTECT, related_name="deletion")
    deleted_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    source = models.CharField(max_length=10, choices=DeletionSource.choices)
    # What was destroyed locally; destroyed_at stays empty until the files are gone.
    local_keys = models.JSONField(default=list, blank=True)
    local_destroyed_at = models.DateTimeField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the destroyed file")
    size = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        permissions = [("delete_recordings", "Delete recordings, here and at the vendor")]
        indexes = [
            models.Index(
                fields=["vendor_state", "vendor_next_attempt_at"], name="deletion_vendor_idx"
            )
        ]

    def __str__(self):
        return f"deletion of recording {self.recording_id}"


class LegalHold(models.Model):
    """One hold on a recording, from when it was set until it was lifted (history kept)."""

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="legal_holds")
    set_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()
    lifted_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-set_at", "-id"]
        default_permissions = ()
        permissions = [("hold_recordings", "Set and lift legal holds")]
        constraints = [
            models.UniqueConstraint(
                fields=["recording"],
                condition=Q(lifted_at__isnull=True),
                name="one_active_hold_per_recording",
            ),
        ]

    def __str__(self):
        return f"hold on recording {self.recording_id}"

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class RetentionPolicy(models.Model):
    """How long an account's recordings are kept: forever (no days) or N days after the call."""

    account = models.OneToOneField(
        VendorAccount, on_delete=models.CASCADE, related_name="retention_policy"
    )
    keep_days = models.PositiveIntegerField(null=True, blank=True)
    updated_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_deleted = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()
        permissions = [("manage_retention", "Set retention policies")]

    def __str__(self):
        return f"retention of {self.account_id}: {self.describe()}"

    def describe(self) -> str:
        if self.keep_days is None:
            return "keep forever"
        return f"delete after {self.keep_days} day{'s' if self.keep_days != 1 else ''}"
