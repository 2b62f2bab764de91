"""From a vendor account to a ready connector."""

from __future__ import annotations

import threading
from functools import cache

from django.utils.module_loading import import_string

from recordings_portal.lib.http import vendor_client
from recordings_portal.vendors.kinds import KINDS

from .base import AccountSettings, Connector


@cache
def connector_class(kind: str) -> type[Connector]:
    return import_string(KINDS[kind].connector)


def supports(kind: str, capability: str) -> bool:
    return capability in KINDS[kind].capabilities


_shared = threading.local()


def shared_client():
    """One pooled keep-alive client per thread (httpx clients are not shared across forks)."""
    client = getattr(_shared, "client", None)
    if client is None:
        client = _shared.client = vendor_client()
    return client


def connector_for(account, client=None) -> Connector:
    """The account's connector with its decrypted secrets (raises CredentialsUnreadable)."""
    settings = AccountSettings(
        base_url=account.base_url, config=dict(account.config), secrets=account.get_secrets()
    )
    return connector_class(account.kind)(settings, client or shared_client())
