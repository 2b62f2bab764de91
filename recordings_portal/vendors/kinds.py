"""The vendor kinds: what an account of each must be told, its connector, what it can do.

This is the registry: a plain dict read by forms, models and services. The connector class is
named by its dotted path and imported on first use (connectors/registry.py), so nothing here
pulls in HTTP code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .recording_policy import policy_errors


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = True
    help_text: str = ""


# What a connector can do; the UI offers only what the account's kind supports.
DISCOVER = "discover"  # list the vendor's catalog page by page
IMPORT = "import"  # recordings named in a file the customer exports (reports, session ids)
WEBHOOKS = "webhooks"  # the vendor tells the portal about recordings
DELETE = "delete"  # the vendor's copy can be deleted through its API
REMOTE_MASK = "remote_mask"  # the vendor can mask its own copy


@dataclass(frozen=True)
class Kind:
    label: str
    connector: str
    capabilities: frozenset[str]
    config: tuple[Field, ...] = ()
    secrets: tuple[Field, ...] = ()
    # Days the vendor keeps a recording before deleting it by itself (None: kept until deleted);
    # catalog/services/retention_watch.py warns before recordings not downloaded yet are lost.
    retention_days: int | None = None
    # Checks of the settings beyond "required" (field name -> message), e.g. a recording policy.
    validate: Callable[[dict], dict[str, str]] | None = None


KINDS: dict[str, Kind] = {
    "kaleyra": Kind(
        "Kaleyra",
        "recordings_portal.vendors.connectors.kaleyra.KaleyraConnector",
        frozenset({IMPORT}),
        config=(
            Field("sid", "Account SID", help_text="The SID in https://api.kaleyra.io/v1/<SID>"),
            Field(
                "timezone",
                "Report time zone",
                required=False,
                help_text="Time zone of the call report's times, e.g. Asia/Kolkata (UTC if empty)",
            ),
        ),
        secrets=(Field("api_key", "API key"),),
    ),
    "koreai": Kind(
        "Kore.ai SmartAssist",
        "recordings_portal.vendors.connectors.koreai.KoreaiConnector",
        frozenset({DISCOVER, IMPORT, DELETE}),
        config=(
            Field("bot_id", "Bot or stream ID"),
            Field("account_id", "Account ID", help_text="For the callDetails session listing"),
            Field("client_id", "Client ID", help_text="The app's client ID, the JWT appId claim"),
        ),
        secrets=(Field("client_secret", "Client secret", help_text="Signs the JWT (HS256)"),),
    ),
    "flyflow": Kind(
        "Flyflow",
        "recordings_portal.vendors.connectors.flyflow.FlyflowConnector",
        frozenset({DISCOVER}),
        secrets=(Field("api_key", "API key"),),
    ),
    "audian": Kind(
        "Audian",
        "recordings_portal.vendors.connectors.audian.AudianConnector",
        frozenset({DISCOVER, WEBHOOKS, DELETE}),
        secrets=(
            Field("api_key", "API key", help_text="Sent as X-Auth-Token"),
            Field(
                "webhook_secret",
                "Webhook signing secret",
                required=False,
                help_text="Verifies X-Audian-Signature on recording webhooks",
            ),
        ),
        retention_days=30,  # "Retained for 30 days: Automatically deleted after 30 days"
    ),
    "iotcomms": Kind(
        "iotcomms SIPRec",
        "recordings_portal.vendors.connectors.iotcomms.IotcommsConnector",
        frozenset({WEBHOOKS, DELETE, REMOTE_MASK}),
        config=(
            Field("domain", "SIPRec domain"),
            Field("bucket", "Destination bucket", help_text="Where STORERECORDING copies files"),
            Field(
                "storage_url",
                "Storage endpoint",
                help_text="S3-compatible endpoint of the bucket "
                "(relative to the base URL or absolute)",
            ),
            Field(
                "record_calls",
                "Record calls",
                required=False,
                help_text="all (the default), none, or matching: only calls matching the patterns",
            ),
            Field(
                "record_patterns",
                "Recording patterns",
                required=False,
                help_text="Comma-separated: numbers (+4670*), domains (@sales.example.com), "
                "addresses (alice@example.com); caller: or callee: for one side; !pattern excludes",
            ),
        ),
        secrets=(
            Field("api_token", "API token", help_text="Authorises the portal's commands"),
            Field("storage_token", "Storage token", help_text="Reads stored files from the bucket"),
            Field(
                "callback_token",
                "Callback bearer token",
                help_text="The token iotcomms sends to the portal's callback endpoints",
            ),
        ),
        validate=policy_errors,
    ),
}

KIND_CHOICES = [(kind, spec.label) for kind, spec in KINDS.items()]


def validate_config(kind: str, config: dict) -> dict[str, str]:
    """Field name -> error message for a kind's non-secret settings (empty when valid)."""
    spec = KINDS.get(kind)
    if spec is None:
        return {"kind": f"Unknown vendor kind {kind!r}."}
    if not isinstance(config, dict):
        return {"config": "Settings must be a JSON object."}
    known = {field.name for field in spec.config}
    errors = {
        name: f"{spec.label} accounts have no setting {name!r}."
        for name in config
        if name not in known
    }
    for field in spec.config:
        value = config.get(field.name)
        if field.required and not (isinstance(value, str) and value.strip()):
            errors[field.name] = f"{field.label} is required."
    if spec.validate is not None:
        for name, message in spec.validate(config).items():
            errors.setdefault(name, message)
    return errors


def validate_secrets(kind: str, secrets: dict) -> dict[str, str]:
    spec = KINDS[kind]
    known = {field.name for field in spec.secrets}
    errors = {name: f"Unknown secret {name!r}." for name in secrets if name not in known}
    for field in spec.secrets:
        if field.required and not secrets.get(field.name):
            errors[field.name] = f"{field.label} is required."
    return errors
