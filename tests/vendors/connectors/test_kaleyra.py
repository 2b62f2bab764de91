"""The Kaleyra connector against the simulator: report import, extraction, signed links, errors."""

from datetime import UTC, datetime

import httpx
import pytest

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.catalog.services.download import RetryLater, recording_download
from recordings_portal.catalog.services.imports import recordings_import
from recordings_portal.lib.http import vendor_client
from recordings_portal.simulators.kaleyra import API_KEY, SID, months_before
from recordings_portal.vendors.connectors.base import (
    AccountSettings,
    AuthFailed,
    Gone,
    LinkExpired,
    RecordingRef,
)
from recordings_portal.vendors.connectors.kaleyra import KaleyraConnector
from recordings_portal.vendors.models import Health

EXPIRED_MESSAGE = "Kaleyra no longer has this recording (Id Expired: recordings are kept 6 months)."


@pytest.fixture
def kaleyra(simulators, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True  # the simulator is on loopback
    return simulators.vendors["kaleyra"]


@pytest.fixture
def account(vendor_account):
    return vendor_account("kaleyra")


def report(simulators) -> bytes:
    """The call report as a customer exports it from the Kaleyra web app."""
    response = httpx.get(
        f"{simulators.url}/kaleyra/v1/{SID}/voice/recordings/report.csv",
        headers={"api-key": API_KEY},
    )
    response.raise_for_status()
    return response.content


def kept(kaleyra) -> list:
    """The simulator's recordings still inside Kaleyra's 6-month retention."""
    limit = months_before(kaleyra.clock.now(), 6)
    return [rec for rec in kaleyra.by_id.values() if rec.call.started_at >= limit]


def expired(kaleyra) -> list:
    limit = months_before(kaleyra.clock.now(), 6)
    return [rec for rec in kaleyra.by_id.values() if rec.call.started_at < limit]


def connector(
    simulators, path="/kaleyra", *, client=None, secrets=None, **config
) -> KaleyraConnector:
    offered = simulators.vendors["kaleyra"].credentials()
    settings = AccountSettings(
        base_url=simulators.url + path,
        config={**offered["config"], **config},
        secrets=secrets or offered["secrets"],
    )
    return KaleyraConnector(settings, client or vendor_client())


class Requests:
    """Watches what the connector sends, over the real connection (an httpx event hook)."""

    def __init__(self, on_extraction=None):
        self.seen: list[httpx.Request] = []
        self.on_extraction = on_extraction

    def __call__(self, response: httpx.Response) -> None:
        self.seen.append(response.request)
        if response.request.method == "POST" and self.on_extraction:
            self.on_extraction(len(self.extractions()))

    def extractions(self) -> list[httpx.Request]:
        return [r for r in self.seen if r.url.path.endswith("/voice/recordings")]

    def links(self) -> list[httpx.Request]:
        return [r for r in self.seen if "/s3/" in r.url.path]


def test_it_imports_the_report_with_times_in_the_accounts_zone(account, simulators, kaleyra):
    result = recordings_import(account, report(simulators), "voice-call-report.csv")

    assert result.new == len(kaleyra.by_id)
    assert len(result.skipped) == len(kaleyra.missed)
    assert all(line.message.startswith("No recording id (") for line in result.skipped)
    for rec in kaleyra.by_id.values():
        row = Recording.objects.get(external_id=rec.id)
        # The report prints Indian time without an offset, to the second.
        assert row.started_at == datetime.fromtimestamp(int(rec.call.started_at), UTC)
        assert row.vendor_call_id == rec.call_id
        assert (row.caller, row.callee) == (rec.call.caller, rec.call.callee)
        assert row.direction == rec.call.direction
        assert row.duration == rec.call.duration


def test_it_downloads_recordings_whose_ids_need_url_encoding(account, simulators, kaleyra):
    recordings_import(account, report(simulators))
    recent = kept(kaleyra)
    assert any("+" in rec.id for rec in recent) and any("/" in rec.id for rec in recent)
    for rec in recent:
        row = Recording.objects.get(external_id=rec.id)
        assert recording_download(row.id).status == "stored"
        row.refresh_from_db()
        audio = simulators.audio.get(rec.call.audio)
        assert row.state == RecordingState.AVAILABLE
        assert row.sha256 == audio.sha256
        assert storage.exists(row.storage_key)


def test_it_never_sends_the_api_key_to_the_signed_link(simulators, kaleyra):
    requests = Requests()
    kaleyra_connector = connector(
        simulators, client=vendor_client(event_hooks={"response": [requests]})
    )
    rec = kept(kaleyra)[0]
    with kaleyra_connector.media(RecordingRef(external_id=rec.id)) as media:
        body = b"".join(media.iter_bytes())
    assert len(body) == simulators.audio.get(rec.call.audio).size
    (extraction,) = requests.extractions()
    (link,) = requests.links()
    assert extraction.headers["api-key"] == API_KEY
    assert "api-key" not in link.headers


def test_it_asks_for_a_new_link_when_the_first_has_expired(simulators, simulator_control, kaleyra):
    simulator_control.faults("kaleyra", expire_links=True)

    def heal(extractions: int) -> None:
        if extractions == 1:  # the first link is handed out expired, the next ones are good
            simulator_control.clear_faults("kaleyra")

    requests = Requests(on_extraction=heal)
    kaleyra_connector = connector(
        simulators, client=vendor_client(event_hooks={"response": [requests]})
    )
    rec = kept(kaleyra)[0]
    with kaleyra_connector.media(RecordingRef(external_id=rec.id)) as media:
        body = b"".join(media.iter_bytes())
    assert len(body) == simulators.audio.get(rec.call.audio).size
    assert len(requests.extractions()) == 2
    assert len(requests.links()) == 2


def test_it_retries_later_when_every_link_it_gets_has_expired(
    account, simulators, simulator_control, kaleyra
):
    recordings_import(account, report(simulators))
    simulator_control.faults("kaleyra", expire_links=True)
    row = Recording.objects.get(external_id=kept(kaleyra)[0].id)

    with pytest.raises(RetryLater):
        recording_download(row.id)

    row.refresh_from_db()
    assert row.state == RecordingState.DISCOVERED
    assert "Request has expired" in row.last_error
    simulator_control.clear_faults("kaleyra")
    assert recording_download(row.id).status == "stored"


def test_it_gives_up_on_links_after_a_few_fresh_ones(simulators, simulator_control, kaleyra):
    simulator_control.faults("kaleyra", expire_links=True)
    requests = Requests()
    kaleyra_connector = connector(
        simulators, client=vendor_client(event_hooks={"response": [requests]})
    )
    with (
        pytest.raises(LinkExpired),
        kaleyra_connector.media(RecordingRef(external_id=kept(kaleyra)[0].id)),
    ):
        pass
    assert len(requests.extractions()) == 3


def test_it_fails_a_recording_past_retention_with_kaleyras_reason(account, simulators, kaleyra):
    recordings_import(account, report(simulators))
    row = Recording.objects.get(external_id=expired(kaleyra)[0].id)

    outcome = recording_download(row.id)

    assert (outcome.status, outcome.message) == ("failed", EXPIRED_MESSAGE)
    row.refresh_from_db()
    assert row.state == RecordingState.FAILED
    assert row.last_error == EXPIRED_MESSAGE
    # Permanent: asking again does not go back to Kaleyra.
    assert recording_download(row.id).status == "skipped"


def test_it_fails_an_id_kaleyra_does_not_know(account):
    data = b"ID,Start Time,Status\r\nAAAAAAAAAAAAAAAAAAAAAA==,2024-05-03 10:00:00,Answered\r\n"
    recordings_import(account, data)
    row = Recording.objects.get()

    outcome = recording_download(row.id)

    assert outcome.status == "failed"
    assert "Invalid Id" in outcome.message
    row.refresh_from_db()
    assert row.state == RecordingState.FAILED


def test_it_reads_the_documented_failure_bodies_that_are_not_json(simulators, kaleyra):
    kaleyra_connector = connector(simulators)
    with pytest.raises(Gone, match="Id Expired"):
        kaleyra_connector._link(expired(kaleyra)[0].id)
    with pytest.raises(Gone, match="Invalid Id"):
        kaleyra_connector._link("nope")


def test_it_flags_the_account_when_the_api_key_is_refused(vendor_account, simulators):
    account = vendor_account("kaleyra", secrets={"api_key": "wrong"})
    recordings_import(account, report(simulators))
    row = Recording.objects.first()

    outcome = recording_download(row.id)

    assert outcome.status == "failed"
    account.refresh_from_db()
    assert account.health == Health.AUTH_FAILED
    row.refresh_from_db()
    # Not the recording's fault: it waits for the admin to fix the key.
    assert row.state == RecordingState.DISCOVERED
    assert row.download_attempts == 0


@pytest.mark.parametrize("path", ["/kaleyra", "/kaleyra/", "/kaleyra/v1", f"/kaleyra/v1/{SID}"])
def test_it_checks_the_key_whatever_form_the_base_url_takes(simulators, kaleyra, path):
    assert SID in connector(simulators, path).check()


def test_it_says_when_the_key_or_sid_is_wrong(simulators, kaleyra):
    with pytest.raises(AuthFailed, match="credentials were refused"):
        connector(simulators, secrets={"api_key": "wrong"}).check()
    with pytest.raises(AuthFailed, match="SID"):
        connector(simulators, sid="HXNOTANACCOUNT").check()
