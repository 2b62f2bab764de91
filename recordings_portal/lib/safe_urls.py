"""Which vendor base URLs the portal will talk to.

A vendor account's base URL is typed by an admin, and the portal then sends credentials to it
and follows what it answers: it must not become a way to reach the cloud metadata service or
the portal's own network (SSRF). Link-local and metadata addresses are never allowed; private
and loopback ones only where VENDOR_ALLOW_PRIVATE_NETWORKS says so (the demo's simulators).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeURL(ValueError):
    pass


def check_address(address: str) -> None:
    """Raise UnsafeURL when an IP address is not one vendors may live at."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        check_address(str(ip.ipv4_mapped))
        return
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        raise UnsafeURL(f"{address} is a link-local, multicast or unspecified address.")
    if ip.is_loopback or ip.is_private:
        if not settings.VENDOR_ALLOW_PRIVATE_NETWORKS:
            raise UnsafeURL(
                f"{address} is a private or loopback address; vendor APIs are on the internet. "
                "(Set VENDOR_ALLOW_PRIVATE_NETWORKS=true only for on-premises vendors or "
                "simulators.)"
            )
        return
    if ip.is_reserved:
        raise UnsafeURL(f"{address} is a reserved address.")


def validate_base_url(url: str) -> str:
    """The URL without a trailing slash, or UnsafeURL saying what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"}:
        raise UnsafeURL("Use an http:// or https:// address.")
    if not parts.hostname:
        raise UnsafeURL("The address has no host name.")
    if parts.username or parts.password:
        raise UnsafeURL("Put credentials in the credential fields, not in the address.")
    if parts.query or parts.fragment:
        raise UnsafeURL("The base address cannot carry a query string or fragment.")
    host = parts.hostname.lower().rstrip(".")
    if host in METADATA_HOSTS:
        raise UnsafeURL(f"{host} is a cloud metadata service, not a vendor.")
    try:
        check_address(host)
    except ValueError as exc:
        if isinstance(exc, UnsafeURL):
            raise
        # Not an IP literal: a DNS name, checked again when connecting.
    return url.strip().rstrip("/")
