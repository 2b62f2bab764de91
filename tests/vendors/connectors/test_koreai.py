"""The Kore.ai SmartAssist connector against the simulator: callDetails discovery in windows,
session-id imports, the recordings API's statuses, signed fileUrls, delete, the JWT."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState, SyncState
from recordings_portal.catalog.services.download import RetryLater, recording_download
from recordings_portal.catalog.services.imports import recordings_import
from recordings_portal.catalog.services.sync import SyncRetry, sync_request, sync_step
from recordings_portal.lib.http import vendor_client
from recordings_portal.simulators.koreai import CLIENT_ID, CLIENT_SECRET, MAX_OFFSET
from recordings_portal.vendors.connectors.base import (
    AccountSettings,
    AuthFailed,
    Gone,
    NotReady,
    RecordingRef,
)
from recordings_portal.vendors.connectors.koreai import KoreaiConnector, parse_time
from recordings_portal.vendors.connectors.registry import connector_for
from recordings_portal.vendors.models import Health

REACH = (MAX_OFFSET + 1) * 100  # the most rows paging can reach in one window


@pytest.fixture
def koreai(simulators, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True  # the simulator is on loopback
    return simulators.vendors["koreai"]


@pytest.fixture
def account(vendor_account, koreai):
    return vendor_account("koreai")


class Listings:
    """The callDetails requests and answers, watched over the real connection."""

    def __init__(self):
        self.calls: list[tuple[dict, dict]] = []

    def __call__(self, response: httpx.Response) -> None:
        if response.request.url.path.endswith("/callDetails"):
            response.read()
            self.calls.append((json.loads(response.request.content), response.json()))


def connector(simulators, *, client=None, secret=CLIENT_SECRET, **config) -> KoreaiConnector:
    offered = simulators.vendors["koreai"].credentials()
    settings = AccountSettings(
        base_url=simulators.url + offered["path"],
        config={**offered["config"], **config},
        secrets={"client_secret": secret},
    )
    return KoreaiConnector(settings, client or vendor_client())


def run_sync(account) -> tuple:
    run = sync_request(account)
    ids = []
    while True:
        step = sync_step(run.id, download=True)
        ids += step.new_ids
        if not step.more:
            break
    run.refresh_from_db()
    return run, ids


def sessions_by(koreai, status: str) -> list:
    now = koreai.clock.now()
    return [s for s in koreai.sessions.values() if s.status(now) == status]


def test_it_discovers_the_last_30_days_of_sessions(account, koreai):
    run, ids = run_sync(account)

    assert run.state == SyncState.SUCCEEDED
    assert run.new == Recording.objects.count() == len(koreai.sessions)
    (live,) = sessions_by(koreai, "call_in_progress")
    row = Recording.objects.get(external_id=live.session_id)
    # Still on the line: catalogued, not downloaded yet.
    assert row.vendor_state == "in_progress"
    assert row.id not in ids
    assert len(ids) == len(koreai.sessions) - 1
    for session in koreai.sessions.values():
        row = Recording.objects.get(external_id=session.session_id)
        assert row.metadata["userId"] == session.user_id
        assert abs(row.started_at.timestamp() - session.call.started_at) < 0.001
        assert row.caller == session.call.caller


def test_it_downloads_each_recorded_session(account, simulators, koreai):
    _, ids = run_sync(account)
    for session in sessions_by(koreai, "success"):
        row = Recording.objects.get(external_id=session.session_id)
        assert row.id in ids
        assert recording_download(row.id).status == "stored"
        row.refresh_from_db()
        assert row.state == RecordingState.AVAILABLE
        assert row.sha256 == simulators.audio.get(session.call.audio).sha256
        assert storage.exists(row.storage_key)


def test_it_fails_a_session_that_was_never_recorded(account, koreai):
    run_sync(account)
    session = sessions_by(koreai, "media_unavailable")[0]
    row = Recording.objects.get(external_id=session.session_id)

    outcome = recording_download(row.id)

    assert outcome.status == "failed"
    row.refresh_from_db()
    assert row.state == RecordingState.FAILED
    assert "media_unavailable" in row.last_error
    assert recording_download(row.id).status == "skipped"


def test_it_waits_while_the_media_is_prepared_then_downloads(account, koreai, simulator_control):
    run_sync(account)
    (session,) = sessions_by(koreai, "media_in_progress")
    row = Recording.objects.get(external_id=session.session_id)

    with pytest.raises(RetryLater) as waited:
        recording_download(row.id)

    assert waited.value.countdown >= 60
    row.refresh_from_db()
    assert row.state == RecordingState.DISCOVERED
    assert "media_in_progress" in row.last_error
    assert row.download_attempts == 0  # waiting is not failing
    simulator_control.knob("koreai", "advance", sessionId=session.session_id).raise_for_status()
    assert recording_download(row.id).status == "stored"


def test_it_downloads_a_call_once_a_later_sync_sees_it_end(account, koreai, simulator_control):
    run_sync(account)
    (live,) = sessions_by(koreai, "call_in_progress")
    row = Recording.objects.get(external_id=live.session_id)
    simulator_control.knob("koreai", "advance", sessionId=live.session_id).raise_for_status()

    _, ids = run_sync(account)

    row.refresh_from_db()
    assert row.vendor_state == "ended"
    assert row.id in ids
    assert recording_download(row.id).status == "stored"


def test_it_answers_not_ready_while_the_call_is_on_the_line(simulators, koreai):
    (live,) = sessions_by(koreai, "call_in_progress")
    with (
        pytest.raises(NotReady, match="call_in_progress") as waited,
        connector(simulators).media(RecordingRef(external_id=live.session_id)),
    ):
        pass
    assert waited.value.retry_after >= 60


def test_it_asks_for_a_new_file_url_when_one_has_expired(simulators, simulator_control, koreai):
    simulator_control.faults("koreai", expire_links=True)
    seen = []

    def watch(response: httpx.Response) -> None:
        seen.append(response.request)
        if response.request.url.path.endswith("/v2/recordings"):
            simulator_control.clear_faults("koreai")  # only the first link is stale

    client = vendor_client(event_hooks={"response": [watch]})
    session = sessions_by(koreai, "success")[0]
    ref = RecordingRef(external_id=session.session_id, metadata={"userId": session.user_id})
    with connector(simulators, client=client).media(ref) as media:
        body = b"".join(media.iter_bytes())

    assert len(body) == simulators.audio.get(session.call.audio).size
    lookups = [r for r in seen if r.url.path.endswith("/v2/recordings")]
    files = [r for r in seen if "/getMediaStream/" in r.url.path]
    assert len(lookups) == len(files) == 2
    assert all(r.url.params["userId"] == session.user_id for r in lookups)
    assert "auth" in lookups[0].headers and "auth" not in files[0].headers


def test_it_signs_a_short_lived_jwt_naming_the_app(simulators, koreai):
    token = connector(simulators).auth_headers()["auth"]
    claims = jwt.decode(token, CLIENT_SECRET, algorithms=["HS256"])
    assert claims["appId"] == CLIENT_ID
    assert 0 < claims["exp"] - claims["iat"] <= 600


def test_it_flags_the_account_when_the_jwt_is_refused(vendor_account, koreai):
    account = vendor_account(
        "koreai", secrets={"client_secret": "not the app's client secret, though long enough"}
    )

    run, _ = run_sync(account)

    assert run.state == SyncState.FAILED
    assert "Failed to authenticate token" in run.errors[-1]["message"]
    account.refresh_from_db()
    assert account.health == Health.AUTH_FAILED
    with pytest.raises(AuthFailed):
        connector_for(account).check()


def test_it_checks_the_bot_and_account(simulators, koreai):
    assert "accepted" in connector(simulators).check()
    with pytest.raises(AuthFailed, match="Bot ID"):
        connector(simulators, bot_id="st-unknown").check()


def test_it_splits_a_window_too_busy_to_page_through(account, simulators, koreai):
    seeded = koreai.recordings
    koreai.recordings = 6000  # ~1,400 sessions a week: more than one window's paging reaches
    try:
        koreai.reset()
        listings = Listings()
        client = vendor_client(event_hooks={"response": [listings]})
        kore = connector(simulators, client=client)
        seen, cursor = [], {}
        while cursor is not None:
            page = kore.discover(cursor)
            seen += [remote.external_id for remote in page.recordings]
            cursor = page.next_cursor
    finally:
        koreai.recordings = seeded
        koreai.reset()

    assert len(set(seen)) == 6000 + 2  # the history and today's two live calls, each found
    assert any(answer["total"] > REACH for _, answer in listings.calls)
    for request, _ in listings.calls:
        window = parse_time(request["endDate"]) - parse_time(request["startDate"])
        assert window <= timedelta(days=7)
        assert request["limit"] <= 100 and request["offset"] <= MAX_OFFSET


def test_it_resumes_a_sync_from_its_cursor_after_a_failure(account, simulator_control, koreai):
    run = sync_request(account)
    sync_step(run.id)
    run.refresh_from_db()
    cursor = dict(run.cursor)
    simulator_control.faults("koreai", fail_next=1)

    with pytest.raises(SyncRetry):
        sync_step(run.id)

    run.refresh_from_db()
    assert run.cursor == cursor
    while sync_step(run.id).more:
        pass
    run.refresh_from_db()
    assert run.state == SyncState.SUCCEEDED
    assert Recording.objects.count() == len(koreai.sessions)


def test_it_starts_the_next_sync_where_the_last_ended(account, simulators, koreai):
    before = datetime.now(UTC)
    run_sync(account)
    account.refresh_from_db()
    since = parse_time(account.sync_state["since"])
    # An hour of overlap; today's live call started a minute ago, inside it.
    assert before - timedelta(hours=1, minutes=1) < since <= before - timedelta(minutes=59)

    listings = Listings()
    kore = connector(simulators, client=vendor_client(event_hooks={"response": [listings]}))
    page = kore.discover(dict(account.sync_state))

    (request, _), *_ = listings.calls
    assert parse_time(request["startDate"]) == since
    assert page.next_cursor is None
    assert {r.external_id for r in page.recordings} == {
        s.session_id for s in koreai.sessions.values() if s.call.started_at >= since.timestamp()
    }


def test_it_imports_session_ids_and_downloads_them(account, koreai):
    recorded = sessions_by(koreai, "success")[:2]
    lines = "sessionId,userId\r\n" + "".join(f"{s.session_id},{s.user_id}\r\n" for s in recorded)

    result = recordings_import(account, lines.encode(), "sessions.csv")

    assert result.new == 2
    for session in recorded:
        row = Recording.objects.get(external_id=session.session_id)
        assert row.metadata == {"userId": session.user_id}
        assert recording_download(row.id).status == "stored"


def test_it_imports_a_plain_list_of_session_ids(account, koreai):
    recorded = sessions_by(koreai, "success")[:3]
    data = "\n".join(s.session_id for s in recorded) + "\n\n"

    result = recordings_import(account, data.encode(), "ids.txt")

    assert result.new == 3
    row = Recording.objects.get(external_id=recorded[0].session_id)
    # Without the userId, the lookup goes by session id alone, as the document's sample does.
    assert recording_download(row.id).status == "stored"


def test_it_deletes_a_session_and_takes_already_gone_as_done(simulators, koreai):
    session = sessions_by(koreai, "success")[0]
    ref = RecordingRef(external_id=session.session_id, metadata={"userId": session.user_id})
    kore = connector(simulators)

    assert "deleted" in kore.delete(ref)
    assert "no recording left" in kore.delete(ref)
    with pytest.raises(Gone, match="media_unavailable"), kore.media(ref):
        pass


def test_it_does_not_delete_a_call_still_in_progress(simulators, koreai):
    (live,) = sessions_by(koreai, "call_in_progress")
    with pytest.raises(NotReady):
        connector(simulators).delete(RecordingRef(external_id=live.session_id))
