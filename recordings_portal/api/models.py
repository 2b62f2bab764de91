from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A user's key to the JSON API. Only its sha256 is kept: the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for")
    # The token's first characters, so its owner can tell tokens apart; not enough to use it.
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"API token #{self.pk} ({self.prefix}…) of user {self.user_id}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
