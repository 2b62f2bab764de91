"""The audio stream, the download and the peaks, over the test client against stored files."""

from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils.http import http_date

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog import listening, storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.catalog.views.media import content_disposition, download_filename
from recordings_portal.vendors.models import VendorAccount


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # Listening markers live in the cache; a private one keeps parallel runs (and Redis in CI)
    # from seeing each other's markers.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "media"}
    }
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def recording(stored_recording):
    return stored_recording(format="mp3")


@pytest.fixture
def supervisor(client_for):
    return client_for("supervisor")


def stream_url(recording):
    return reverse("catalog:stream", args=[recording.pk])


def file_bytes(recording) -> bytes:
    return storage.read_bytes(recording.storage_key)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def plays(recording=None):
    events = AccessEvent.objects.filter(action="recording.play")
    return events.filter(object_id=str(recording.pk)) if recording else events


# --- whole file and ranges, byte for byte ------------------------------------------------


def test_it_streams_the_whole_file_with_its_validators(supervisor, recording):
    data = file_bytes(recording)
    response = supervisor.get(stream_url(recording))
    assert response.status_code == 200
    assert response.streaming  # chunks from the open file, never the whole file in memory
    assert body(response) == data
    assert response["Content-Length"] == str(len(data))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{recording.sha256}"'
    assert response["Last-Modified"] == http_date(recording.downloaded_at.timestamp())
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Cache-Control"] == "private, no-cache"
    assert response["Content-Disposition"].startswith("inline; ")
    assert "Content-Range" not in response


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-1", lambda size: (0, 1)),
        ("bytes=100-", lambda size: (100, size - 1)),
        ("bytes=-500", lambda size: (size - 500, size - 1)),
        ("bytes=1000-66535", lambda size: (1000, 66535)),
        ("bytes=5-999999999", lambda size: (5, size - 1)),
        ("bytes=0-", lambda size: (0, size - 1)),
    ],
)
def test_it_serves_exactly_the_bytes_asked_for(supervisor, recording, header, span):
    data = file_bytes(recording)
    first, last = span(len(data))
    response = supervisor.get(stream_url(recording), HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == data[first : last + 1]


def test_it_answers_416_with_the_size_when_nothing_is_satisfiable(supervisor, recording):
    size = len(file_bytes(recording))
    response = supervisor.get(stream_url(recording), HTTP_RANGE=f"bytes={size}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"
    assert body(response) == b""


@pytest.mark.parametrize("header", ["bytes=9-2", "bytes=abc", "pages=1-2", "bytes=0-1,10-20"])
def test_it_sends_the_whole_file_for_malformed_or_multiple_ranges(supervisor, recording, header):
    response = supervisor.get(stream_url(recording), HTTP_RANGE=header)
    assert response.status_code == 200
    assert body(response) == file_bytes(recording)


def test_head_says_what_get_would_send_without_a_body(supervisor, recording):
    response = supervisor.head(stream_url(recording), HTTP_RANGE="bytes=10-19")
    assert response.status_code == 206
    assert response["Content-Length"] == "10"
    assert body(response) == b""


# --- conditional requests ----------------------------------------------------------------


def test_if_range_with_the_current_etag_keeps_the_range(supervisor, recording):
    data = file_bytes(recording)
    headers = {"HTTP_RANGE": "bytes=10-19", "HTTP_IF_RANGE": f'"{recording.sha256}"'}
    response = supervisor.get(stream_url(recording), **headers)
    assert response.status_code == 206
    assert body(response) == data[10:20]


def test_if_range_with_a_stale_etag_or_date_sends_the_whole_file(supervisor, recording):
    data = file_bytes(recording)
    stale_date = http_date((recording.downloaded_at - timedelta(days=1)).timestamp())
    for validator in ('"an-older-file"', stale_date):
        headers = {"HTTP_RANGE": "bytes=10-19", "HTTP_IF_RANGE": validator}
        response = supervisor.get(stream_url(recording), **headers)
        assert response.status_code == 200
        assert body(response) == data


def test_if_range_with_the_last_modified_date_keeps_the_range(supervisor, recording):
    first = supervisor.get(stream_url(recording))
    headers = {"HTTP_RANGE": "bytes=0-1", "HTTP_IF_RANGE": first["Last-Modified"]}
    assert supervisor.get(stream_url(recording), **headers).status_code == 206


def test_if_none_match_answers_304_with_validators_and_no_body(supervisor, recording):
    etag = supervisor.get(stream_url(recording))["ETag"]
    response = supervisor.get(stream_url(recording), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response["Cache-Control"] == "private, no-cache"
    assert body(response) == b""
    assert "Content-Length" not in response  # a 304 must not claim a zero-length file
    other = supervisor.get(stream_url(recording), HTTP_IF_NONE_MATCH='"other"')
    assert other.status_code == 200


def test_if_modified_since_answers_304(supervisor, recording):
    modified = supervisor.get(stream_url(recording))["Last-Modified"]
    response = supervisor.get(stream_url(recording), HTTP_IF_MODIFIED_SINCE=modified)
    assert response.status_code == 304


def test_if_match_with_another_etag_is_412(supervisor, recording):
    assert supervisor.get(stream_url(recording), HTTP_IF_MATCH='"x"').status_code == 412


# --- content types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("mp3", "audio/mpeg"), ("wav", "audio/wav"), ("opus", "audio/ogg")],
)
def test_it_names_the_content_type_of_each_format(supervisor, stored_recording, fmt, content_type):
    recording = stored_recording(format=fmt, channels=1, duration=5)
    response = supervisor.get(stream_url(recording), HTTP_RANGE="bytes=0-3")
    assert response.status_code == 206
    assert response["Content-Type"] == content_type
    assert body(response) == file_bytes(recording)[:4]


# --- who may, and what is there ----------------------------------------------------------


@pytest.mark.parametrize("name", ["catalog:stream", "catalog:download", "catalog:peaks"])
@pytest.mark.parametrize(
    ("role", "status"),
    [("supervisor", 200), ("compliance", 200), ("admin", 200), ("auditor", 403)],
)
def test_only_roles_that_may_play_get_the_audio(client_for, recording, name, role, status):
    response = client_for(role).get(reverse(name, args=[recording.pk]))
    assert response.status_code == status


@pytest.mark.parametrize("name", ["catalog:stream", "catalog:download", "catalog:peaks"])
def test_anonymous_users_are_sent_to_sign_in(client, recording, name):
    response = client.get(reverse(name, args=[recording.pk]), HTTP_RANGE="bytes=0-1")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_every_range_request_is_authorised(client_for, users, recording):
    client = client_for("supervisor")
    assert client.get(stream_url(recording), HTTP_RANGE="bytes=0-1").status_code == 206
    users["supervisor"].groups.remove(Group.objects.get(name="supervisor"))
    assert client.get(stream_url(recording), HTTP_RANGE="bytes=2-3").status_code == 403


@pytest.mark.parametrize(
    "state", [RecordingState.DISCOVERED, RecordingState.FAILED, RecordingState.DELETED]
)
@pytest.mark.parametrize("name", ["catalog:stream", "catalog:download", "catalog:peaks"])
def test_it_is_404_when_there_is_nothing_to_play(supervisor, recording, state, name):
    Recording.objects.filter(pk=recording.pk).update(state=state)
    assert supervisor.get(reverse(name, args=[recording.pk])).status_code == 404


def test_it_is_404_for_an_unknown_recording_or_a_missing_file(supervisor, recording):
    assert supervisor.get(reverse("catalog:stream", args=[recording.pk + 1000])).status_code == 404
    storage.delete(recording.storage_key)
    assert supervisor.get(stream_url(recording)).status_code == 404


def test_a_masked_recording_plays(supervisor, recording):
    Recording.objects.filter(pk=recording.pk).update(state=RecordingState.MASKED)
    response = supervisor.get(stream_url(recording), HTTP_RANGE="bytes=0-1")
    assert response.status_code == 206


def test_peaks_are_the_stored_json(supervisor, recording):
    response = supervisor.get(reverse("catalog:peaks", args=[recording.pk]))
    assert response["Content-Type"] == "application/json"
    assert response.content == storage.read_bytes(recording.peaks_key)
    peaks = response.json()
    assert set(peaks) == {"samples_per_peak", "sample_rate", "channels"}
    assert len(peaks["channels"]) == 2


# --- one play event per listening --------------------------------------------------------


def test_many_range_requests_are_one_listening(client_for, users, recording):
    client = client_for("supervisor")
    size = recording.size
    for start in (0, 0, size - 128, 4096, 20000, 0, 8192):
        client.get(stream_url(recording), HTTP_RANGE=f"bytes={start}-")
    client.get(stream_url(recording))
    assert plays(recording).count() == 1
    event = plays(recording).get()
    assert event.actor == users["supervisor"]
    assert event.details == {"range": "bytes=0-", "served_by": "django"}


def test_each_user_and_each_recording_is_its_own_listening(
    client_for, users, recording, stored_recording
):
    other = stored_recording(format="wav", channels=1, duration=3)
    for role in ("supervisor", "compliance"):
        client = client_for(role)
        for item in (recording, other, recording):
            client.get(stream_url(item), HTTP_RANGE="bytes=0-1")
    assert plays(recording).count() == 2
    assert plays(other).count() == 2


def test_a_new_listening_starts_after_the_idle_gap(supervisor, users, recording):
    supervisor.get(stream_url(recording), HTTP_RANGE="bytes=0-1")
    supervisor.get(stream_url(recording), HTTP_RANGE="bytes=2-")
    from django.core.cache import cache

    # What IDLE_SECONDS of silence does to the marker.
    cache.delete(listening.marker_key(users["supervisor"].pk, recording.pk))
    supervisor.get(stream_url(recording), HTTP_RANGE="bytes=500-")
    assert plays(recording).count() == 2


def test_refused_head_and_unsatisfiable_requests_record_no_play(client_for, recording):
    client_for("auditor").get(stream_url(recording))
    supervisor = client_for("supervisor")
    supervisor.head(stream_url(recording))
    supervisor.get(stream_url(recording), HTTP_RANGE="bytes=99999999-")
    assert plays().count() == 0


def test_a_play_that_cannot_be_logged_is_not_served_and_is_retried(
    supervisor, recording, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("log unavailable")

    monkeypatch.setattr(listening, "record", broken)
    supervisor.raise_request_exception = False
    assert supervisor.get(stream_url(recording)).status_code == 500
    monkeypatch.undo()
    assert supervisor.get(stream_url(recording), HTTP_RANGE="bytes=10-").status_code == 206
    assert plays(recording).count() == 1


# --- X-Accel-Redirect --------------------------------------------------------------------


def test_in_production_nginx_serves_the_bytes_after_django_authorises(
    settings, client_for, recording
):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    client = client_for("supervisor")
    for header in ("bytes=0-", "bytes=500-", "bytes=1000-2000"):
        response = client.get(stream_url(recording), HTTP_RANGE=header)
        assert response.status_code == 200
        assert response["X-Accel-Redirect"] == f"/protected-media/{recording.storage_key}"
        assert body(response) == b""
        assert response["Content-Type"] == "audio/mpeg"
        assert response["Content-Disposition"].startswith("inline; ")
        assert response["Cache-Control"] == "private, no-cache"
    assert plays(recording).count() == 1
    assert plays(recording).get().details["served_by"] == "nginx"
    assert client_for("auditor").get(stream_url(recording)).status_code == 403


def test_accel_redirect_escapes_the_key_and_serves_downloads(settings, supervisor, recording):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media"
    Recording.objects.filter(pk=recording.pk).update(storage_key="recordings/a b/ü#?.mp3")
    response = supervisor.get(reverse("catalog:download", args=[recording.pk]))
    assert response["X-Accel-Redirect"] == "/protected-media/recordings/a%20b/%C3%BC%23%3F.mp3"
    assert response["Content-Disposition"].startswith("attachment; ")
    assert AccessEvent.objects.filter(action="recording.download").count() == 1


# --- downloads ---------------------------------------------------------------------------


def test_download_is_an_attachment_and_an_access_event(supervisor, recording):
    response = supervisor.get(reverse("catalog:download", args=[recording.pk]))
    assert response.status_code == 200
    assert body(response) == file_bytes(recording)
    assert response["Content-Disposition"].startswith('attachment; filename="Stored-')
    # A download manager resuming it is the same download.
    resumed = supervisor.get(
        reverse("catalog:download", args=[recording.pk]), HTTP_RANGE="bytes=1000-"
    )
    assert resumed.status_code == 206
    events = AccessEvent.objects.filter(action="recording.download", object_id=str(recording.pk))
    assert events.count() == 1
    assert plays().count() == 0


@pytest.mark.parametrize(
    "account_name",
    [
        'Support "Tier 1"',
        "../../etc/passwd",
        "Sales\\EMEA/North",
        "Ünïcødé 東京 Support",
        "line\r\nbreak; filename=evil.exe",
        "...",
    ],
)
def test_download_filenames_carry_no_path_or_quote_characters(
    supervisor, stored_recording, account_name
):
    account = VendorAccount.objects.create(
        name=account_name, kind="flyflow", base_url="https://api.flyflow.dev/v1"
    )
    recording = stored_recording(
        format="wav", channels=1, duration=2, account=account, vendor_call_id="call/7\"'"
    )
    response = supervisor.get(reverse("catalog:download", args=[recording.pk]))
    header = response["Content-Disposition"]
    assert "\r" not in header and "\n" not in header
    disposition, plain, extended = header.split("; ")
    assert disposition == "attachment"
    ascii_name = plain.removeprefix('filename="').removesuffix('"')
    full_name = unquote(extended.removeprefix("filename*=UTF-8''"))
    for name in (ascii_name, full_name):
        assert not set(name) & set('/\\"\r\n;'), name
        assert not name.startswith("."), name
        assert name.endswith(".wav")
        assert "call_7" in name
    assert ascii_name.isascii()
    if "東京" in account_name:
        assert "東京" in full_name


def test_masked_downloads_say_so_in_their_name(recording):
    recording.state = RecordingState.MASKED
    assert download_filename(recording).endswith("-masked.mp3")


def test_content_disposition_keeps_an_extension_for_non_latin_names():
    header = content_disposition("attachment", "東京.mp3")
    assert header == (
        "attachment; filename=\"recording.mp3\"; filename*=UTF-8''%E6%9D%B1%E4%BA%AC.mp3"
    )


def test_a_range_request_costs_session_user_permissions_and_one_row(
    supervisor, recording, django_assert_max_num_queries
):
    supervisor.get(stream_url(recording), HTTP_RANGE="bytes=0-1")  # starts the listening
    with django_assert_max_num_queries(5):
        assert supervisor.get(stream_url(recording), HTTP_RANGE="bytes=2-3").status_code == 206
