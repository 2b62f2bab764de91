from django.db import models
from django.db.models import Q

from recordings_portal.vendors.models import VendorAccount


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    INTERNAL = "internal", "Internal"
    UNKNOWN = "unknown", "Unknown"


class RecordingState(models.TextChoices):
    DISCOVERED = "discovered", "Discovered"
    DOWNLOADING = "downloading", "Downloading"
    AVAILABLE = "available", "Available"
    FAILED = "failed", "Failed"
    MASKED = "masked", "Masked"
    DELETED = "deleted", "Deleted"


PLAYABLE_STATES = (RecordingState.AVAILABLE, RecordingState.MASKED)


class Recording(models.Model):
    account = models.ForeignKey(VendorAccount, on_delete=models.PROTECT, related_name="recordings")
    external_id = models.CharField(max_length=255, help_text="The vendor's id for the recording")
    vendor_call_id = models.CharField(max_length=255, blank=True, help_text="Call or session id")
    started_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds")
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.UNKNOWN
    )
    caller = models.CharField(max_length=128, blank=True)
    callee = models.CharField(max_length=128, blank=True)
    participants = models.JSONField(default=list, blank=True)
    format = models.CharField(max_length=10, blank=True, help_text="mp3, wav, opus, ...")
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    size = models.BigIntegerField(null=True, blank=True, help_text="Bytes of the stored file")
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the stored file")
    vendor_sha256 = models.CharField(max_length=64, blank=True, help_text="As the vendor reported")
    state = models.CharField(
        max_length=12, choices=RecordingState.choices, default=RecordingState.DISCOVERED
    )
    vendor_state = models.CharField(max_length=40, blank=True, help_text="The vendor's own status")
    storage_key = models.CharField(max_length=500, blank=True)
    peaks_key = models.CharField(max_length=500, blank=True, help_text="Waveform peaks (JSON)")
    metadata = models.JSONField(default=dict, blank=True)
    legal_hold = models.BooleanField(default=False)
    download_attempts = models.PositiveSmallIntegerField(default=0)
    # Who is downloading it and until when: a worker that died loses its claim when it lapses.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "external_id"], name="recording_unique_per_account"
            ),
        ]
        indexes = [
            # Search sorts by start time or duration with the id as tie-breaker (keyset pages).
            models.Index(fields=["-started_at", "-id"], name="recording_started_idx"),
            models.Index(fields=["-duration", "-id"], name="recording_duration_idx"),
            models.Index(fields=["account", "-started_at"], name="recording_account_started_idx"),
            models.Index(fields=["state", "-started_at"], name="recording_state_started_idx"),
            models.Index(fields=["caller"], name="recording_caller_idx"),
            models.Index(fields=["callee"], name="recording_callee_idx"),
            models.Index(fields=["vendor_call_id"], name="recording_call_id_idx"),
        ]
        permissions = [
            ("browse_recordings", "Search recordings and see their details"),
            ("play_recording", "Play and download recordings"),
        ]

    def __str__(self):
        return f"{self.account.name}: {self.external_id}"

    @property
    def playable(self) -> bool:
        return self.state in PLAYABLE_STATES and bool(self.storage_key)


class SyncState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_SYNC_STATES = (SyncState.QUEUED, SyncState.RUNNING)


class SyncRun(models.Model):
    """One pass over a vendor's catalog: what a progress bar reads and a retry resumes from."""

    account = models.ForeignKey(VendorAccount, on_delete=models.CASCADE, related_name="sync_runs")
    state = models.CharField(max_length=10, choices=SyncState.choices, default=SyncState.QUEUED)
    trigger = models.CharField(max_length=20, default="manual", help_text="manual, schedule, ...")
    requested_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cursor = models.JSONField(default=dict, blank=True, help_text="Where the next page starts")
    pages = models.PositiveIntegerField(default=0)
    total_expected = models.PositiveIntegerField(null=True, blank=True)
    seen = models.PositiveIntegerField(default=0)
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    downloaded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One sync per account at a time, enforced by the database, not by hope.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(state__in=["queued", "running"]),
                name="one_active_sync_per_account",
            ),
        ]

    def __str__(self):
        return f"sync {self.pk} of {self.account_id} ({self.state})"

    @property
    def progress_percent(self) -> int | None:
        if not self.total_expected:
            return None
        return min(100, round(100 * self.seen / self.total_expected))
