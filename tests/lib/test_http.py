"""The outbound client refuses destinations a vendor cannot be at, whatever names them (SSRF)."""

import httpx
import pytest

from recordings_portal.lib.http import UnsafeDestination, vendor_client
from recordings_portal.simulators.testing import Receiver


@pytest.fixture
def internet_only(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://127.0.0.1:9/", "private or loopback"),
        ("http://[::1]:9/", "private or loopback"),
        ("http://[::ffff:127.0.0.1]:9/", "private or loopback"),
        ("http://10.1.2.3/", "private or loopback"),
        ("http://localhost:9/", "private or loopback"),  # a DNS name resolving to loopback
        ("http://metadata.google.internal/", "metadata"),
    ],
)
def test_it_refuses_unsafe_destinations_with_a_clear_reason(internet_only, url, reason):
    with vendor_client() as client, pytest.raises(UnsafeDestination, match=reason):
        client.get(url)


def test_loopback_is_reachable_only_when_allowed(settings):
    receiver = Receiver()
    try:
        settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
        with vendor_client() as client:
            assert client.get(receiver.url).status_code == 200
        settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
        with vendor_client() as client, pytest.raises(UnsafeDestination):
            client.get(receiver.url)
    finally:
        receiver.close()


def test_the_client_does_not_follow_redirects_by_itself(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    receiver = Receiver(answer=lambda received: (302, {}, {"Location": "http://10.0.0.1/"}))
    try:
        with vendor_client() as client:
            response = client.get(receiver.url)
        assert response.status_code == 302  # Connector.send decides, hop by hop
        assert isinstance(response, httpx.Response)
    finally:
        receiver.close()
