"""Credentials stay on the vendor's own origin when a vendor redirects elsewhere."""

import pytest

from recordings_portal.lib.http import vendor_client
from recordings_portal.simulators.testing import Receiver
from recordings_portal.vendors.connectors.base import (
    AccountSettings,
    Connector,
    ConnectorError,
    LinkExpired,
)


class TokenConnector(Connector):
    label = "Test vendor"

    def auth_headers(self):
        return {"X-Auth-Token": "secret-token-1234"}


@pytest.fixture
def other_host():
    receiver = Receiver(answer=lambda received: (200, {"ok": True}))
    yield receiver
    receiver.close()


def connector_for(base_url):
    return TokenConnector(AccountSettings(base_url, {}, {}), vendor_client())


def test_credentials_are_not_sent_to_another_host(settings, other_host):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    elsewhere = other_host.url.replace("127.0.0.1", "localhost") + "/file"
    vendor = Receiver(answer=lambda received: (302, {}, {"Location": elsewhere}))
    try:
        response = connector_for(vendor.url).send("GET", f"{vendor.url}/download")
        assert response.json() == {"ok": True}
        assert vendor.requests[0].headers["x-auth-token"] == "secret-token-1234"
        assert "x-auth-token" not in other_host.requests[0].headers
    finally:
        vendor.close()


def test_credentials_follow_a_redirect_on_the_same_origin(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True

    def answer(received):
        if received.path == "/old":
            return 301, {}, {"Location": "/new"}
        return 200, {"path": received.path}

    vendor = Receiver(answer=answer)
    try:
        response = connector_for(vendor.url).send("GET", f"{vendor.url}/old")
        assert response.json() == {"path": "/new"}
        assert vendor.requests[1].headers["x-auth-token"] == "secret-token-1234"
    finally:
        vendor.close()


def test_a_refusal_from_the_other_host_is_a_link_problem_not_bad_credentials(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    storage = Receiver(answer=lambda received: (403, {"error": "expired"}))
    elsewhere = storage.url.replace("127.0.0.1", "localhost")
    vendor = Receiver(answer=lambda received: (302, {}, {"Location": elsewhere}))
    try:
        with pytest.raises(LinkExpired):
            connector_for(vendor.url).send("GET", f"{vendor.url}/download")
    finally:
        vendor.close()
        storage.close()


def test_endless_redirects_stop_with_a_clear_error(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    vendor = Receiver(answer=lambda received: (302, {}, {"Location": "/again"}))
    try:
        with pytest.raises(ConnectorError, match="redirected too many times"):
            connector_for(vendor.url).send("GET", f"{vendor.url}/start")
    finally:
        vendor.close()


def test_a_redirect_to_the_metadata_service_is_refused(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    vendor = Receiver(
        answer=lambda received: (302, {}, {"Location": "http://169.254.169.254/latest/meta-data"})
    )
    try:
        with pytest.raises(ConnectorError, match="link-local") as caught:
            connector_for(vendor.url).send("GET", f"{vendor.url}/download")
        assert caught.value.permanent
    finally:
        vendor.close()
