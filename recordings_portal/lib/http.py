"""The one way the portal makes outbound HTTP requests to vendors.

Every request, redirects included, goes through GuardedTransport, which resolves the host and
refuses addresses vendors cannot live at (lib.safe_urls), so a base URL or a redirect cannot
point the portal at the metadata service or its own network.
"""

from __future__ import annotations

import socket

import httpx

from .safe_urls import UnsafeURL, check_address, validate_base_url

USER_AGENT = "RecordingsPortal/1.0"
TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)
MAX_REDIRECTS = 5


def resolve_and_check(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"Cannot resolve {host}: {exc.strerror}") from exc
    for *_, sockaddr in infos:
        check_address(sockaddr[0])


class GuardedTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            validate_base_url(f"{url.scheme}://{url.netloc.decode()}/")
            resolve_and_check(url.host, url.port or (443 if url.scheme == "https" else 80))
        except UnsafeURL as exc:
            message = f"Refused to connect to {url.host}: {exc}"
            raise UnsafeDestination(message, request=request) from exc
        return super().handle_request(request)


class UnsafeDestination(httpx.RequestError):
    """The request or a redirect pointed somewhere the portal must not go."""


def vendor_client(**options) -> httpx.Client:
    """A pooled, keep-alive HTTP/1.1 client with sane timeouts and the SSRF guard."""
    return httpx.Client(
        transport=GuardedTransport(limits=LIMITS, retries=0),
        timeout=options.pop("timeout", TIMEOUT),
        headers={"User-Agent": USER_AGENT, **options.pop("headers", {})},
        # Connector.send follows redirects itself, keeping credentials on the account's origin.
        follow_redirects=False,
        **options,
    )
