"""Wiring the demo's vendor accounts to the running simulators, so the catalog fills itself.

Pushing vendors (Audian webhooks, iotcomms callbacks) are pointed at the portal; listing vendors
are synced; Kaleyra's call report is imported as a customer would upload it; a few iotcomms
calls are placed so their callbacks arrive while the demo runs.
"""

from __future__ import annotations

import httpx
from django.urls import reverse

from recordings_portal.catalog.services.imports import ImportFailed, recordings_import
from recordings_portal.catalog.services.sync import sync_request
from recordings_portal.vendors.kinds import DISCOVER, KINDS
from recordings_portal.vendors.models import VendorAccount


def hook_url(portal_url: str, account: VendorAccount, path: str = "") -> str:
    base = reverse("vendor-webhook", kwargs={"public_id": account.public_id, "event_path": "x"})
    return portal_url.rstrip("/") + base[: -len("x")] + path


def connect(simulators_url: str, portal_url: str, write) -> None:
    control = httpx.Client(base_url=f"{simulators_url}/_control", timeout=30)
    accounts = {
        account.kind: account for account in VendorAccount.objects.filter(name__startswith="Demo ")
    }
    if audian := accounts.get("audian"):
        secrets = audian.get_secrets()
        control.post(
            "/audian/webhook",
            json={
                "url": hook_url(portal_url, audian, "events"),
                "secret": secrets.get("webhook_secret"),
            },
        ).raise_for_status()
        write(f"  Audian webhooks -> {hook_url(portal_url, audian, 'events')}")
    if iotcomms := accounts.get("iotcomms"):
        secrets = iotcomms.get_secrets()
        url = hook_url(portal_url, iotcomms).rstrip("/")
        control.post(
            "/iotcomms/callbacks",
            json={"url": url, "token": secrets["callback_token"], "replay": True},
        ).raise_for_status()
        for seconds in (25, 70, 140):
            control.post("/iotcomms/call", json={"duration": seconds}).raise_for_status()
        write(f"  iotcomms callbacks -> {url}/... (3 calls placed)")
    if kaleyra := accounts.get("kaleyra"):
        report = _kaleyra_report(kaleyra)
        try:
            result = recordings_import(kaleyra, report, "kaleyra-report.csv")
            write(f"  Kaleyra report imported: {result.summary()}")
        except ImportFailed as exc:
            write(f"  Kaleyra report not imported: {exc.message}")
    for account in accounts.values():
        if DISCOVER in KINDS[account.kind].capabilities:
            started = sync_request(account, trigger="demo")
            write(f"  {account.name}: sync {'queued' if started else 'already running'}")


def _kaleyra_report(account: VendorAccount) -> bytes:
    """The call report, as a customer exports it from the Kaleyra web app."""
    sid = account.config["sid"]
    response = httpx.get(
        f"{account.base_url}/v1/{sid}/voice/recordings/report.csv",
        headers={"api-key": account.get_secrets()["api_key"]},
        timeout=30,
    )
    response.raise_for_status()
    return response.content
