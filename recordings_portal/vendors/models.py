import uuid

from django.core.exceptions import ValidationError
from django.db import models

from . import crypto
from .kinds import KIND_CHOICES, KINDS, validate_config


class Health(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    OK = "ok", "Healthy"
    DEGRADED = "degraded", "Degraded"
    FAILING = "failing", "Failing"
    AUTH_FAILED = "auth_failed", "Credentials refused"


class VendorAccount(models.Model):
    """One connection to one vendor: where it is, how to authenticate, how often to sync."""

    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    name = models.CharField(max_length=100, unique=True)
    # Webhook URLs carry this instead of the primary key, so they reveal nothing guessable.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    base_url = models.URLField(max_length=500)
    config = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(default=60)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # The connector's watermark after the last complete sync (e.g. Audian's "since").
    sync_state = models.JSONField(default=dict, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.kind_label})"

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind].label if self.kind in KINDS else self.kind

    def clean(self):
        errors = validate_config(self.kind, self.config)
        if errors:
            raise ValidationError({"config": [f"{k}: {v}" for k, v in errors.items()]})

    def get_secrets(self) -> dict[str, str]:
        """The decrypted credentials; raises crypto.CredentialsUnreadable with a clear message."""
        return crypto.decrypt(self.secrets_encrypted)

    def set_secrets(self, values: dict[str, str]) -> None:
        self.secrets_encrypted = crypto.encrypt({k: v for k, v in values.items() if v})

    def masked_secrets(self) -> dict[str, str]:
        try:
            return {name: crypto.mask(value) for name, value in self.get_secrets().items()}
        except crypto.CredentialsUnreadable:
            return {}


class WebhookDelivery(models.Model):
    """A webhook or callback already acted on: a replay of the same delivery changes nothing."""

    account = models.ForeignKey(VendorAccount, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)
    event_path = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "delivery_id"], name="webhook_delivery_once"
            ),
        ]
        indexes = [models.Index(fields=["received_at"], name="webhook_received_idx")]

    def __str__(self):
        return f"{self.delivery_id} for account {self.account_id}"
