"""The portal behind real nginx, on the configuration `manage.py nginx_config` prints.

With MEDIA_AUTH_REQUEST_SECONDS, nginx serves the audio itself after asking the portal
(auth_request) and keeps a yes per session and recording for that long; downloads still pass
through Django and X-Accel-Redirect.
"""

import time

import httpx
import pytest
from django.core.management import call_command
from django.urls import reverse

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording
from recordings_portal.catalog.nginx import Site, http_config
from tests.lib.nginx import free_port, nginx_installed, running_nginx

needs_nginx = pytest.mark.skipif(
    not nginx_installed(), reason="nginx is not installed (apt-get install nginx-light)"
)
KEEP_SECONDS = 1


@pytest.fixture(autouse=True)
def _behind_nginx(settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    settings.MEDIA_AUTH_REQUEST_SECONDS = KEEP_SECONDS
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_PROXY
    # Listening markers in this process's memory, shared with the live server's thread.
    locmem = "django.core.cache.backends.locmem.LocMemCache"
    settings.CACHES = {"default": {"BACKEND": locmem, "LOCATION": "nginx"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def nginx(live_server, media_root, tmp_path):
    """The portal's nginx configuration in front of the live server: its base URL."""
    port = free_port()
    site = Site(
        upstream=live_server.url.removeprefix("http://"),
        listen=f"127.0.0.1:{port}",
        cache_dir=tmp_path / "auth-cache",
    )
    with running_nginx(http_config(site), tmp_path, [port], workers="1"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def session(client, settings):
    def sign_in(user) -> dict:
        client.force_login(user)
        return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}

    return sign_in


def audio_url(base: str, recording) -> str:
    return base + reverse("catalog:stream", kwargs={"pk": recording.pk})


def plays(recording) -> int:
    return AccessEvent.objects.filter(action="recording.play", object_id=str(recording.pk)).count()


@needs_nginx
def test_nginx_sends_the_ranges_a_supervisor_asks_for_and_the_log_counts_one_listening(
    nginx, stored_recording, users, session
):
    recording = stored_recording(format="wav", channels=2, sample_rate=8000, duration=20)
    data = storage.path(recording.storage_key).read_bytes()
    url = audio_url(nginx, recording)
    with httpx.Client(cookies=session(users["supervisor"])) as browser:
        for asked, first, last in (
            ("bytes=0-1", 0, 1),
            ("bytes=1000-66535", 1000, 66535),
            ("bytes=-500", len(data) - 500, len(data) - 1),
        ):
            answer = browser.get(url, headers={"Range": asked})
            assert answer.status_code == 206, answer.text
            assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
            assert answer.content == data[first : last + 1]
        assert answer.headers["content-type"] == "audio/wav"
        assert answer.headers["cache-control"] == "private, no-cache"
        whole = browser.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["accept-ranges"] == "bytes"
        again = browser.get(url, headers={"If-None-Match": whole.headers["etag"]})
        assert again.status_code == 304
        unsatisfiable = browser.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert unsatisfiable.status_code == 416
    assert plays(recording) == 1
    event = AccessEvent.objects.get(action="recording.play")
    assert event.actor_username == users["supervisor"].username
    assert event.details["served_by"] == "nginx auth_request"


@needs_nginx
def test_no_session_is_refused_401_and_a_role_without_play_403_while_another_is_allowed(
    nginx, stored_recording, users, session
):
    recording = stored_recording(format="mp3")
    url = audio_url(nginx, recording)
    allowed = httpx.get(url, cookies=session(users["supervisor"]))
    assert allowed.status_code == 200 and allowed.headers["content-type"] == "audio/mpeg"
    # The supervisor's yes is kept for the supervisor's session only.
    assert httpx.get(url, cookies=session(users["auditor"])).status_code == 403
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, cookies={"sessionid": "forged"}).status_code == 401
    assert plays(recording) == 1


@needs_nginx
def test_a_revoked_permission_stops_the_audio_within_the_seconds_nginx_keeps_a_yes(
    nginx, stored_recording, users, session
):
    recording = stored_recording(format="mp3")
    url = audio_url(nginx, recording)
    cookies = session(users["supervisor"])
    assert httpx.get(url, cookies=cookies).status_code == 200
    users["supervisor"].groups.clear()
    # nginx counts in whole seconds: a yes kept for N seconds lapses within N + 1.
    time.sleep(KEEP_SECONDS + 1.2)
    assert httpx.get(url, cookies=cookies).status_code == 403


@needs_nginx
def test_nothing_to_play_is_404(nginx, stored_recording, users, session):
    cookies = session(users["supervisor"])
    recording = stored_recording(format="mp3")
    Recording.objects.filter(pk=recording.pk).update(state="discovered")
    assert httpx.get(audio_url(nginx, recording), cookies=cookies).status_code == 404
    missing = nginx + reverse("catalog:stream", kwargs={"pk": 999999})
    assert httpx.get(missing, cookies=cookies).status_code == 404
    assert plays(recording) == 0


@needs_nginx
def test_the_log_records_the_address_nginx_saw_not_a_forged_forwarded_for(
    nginx, stored_recording, users, session
):
    recording = stored_recording(format="mp3")
    forged = {"X-Forwarded-For": "198.51.100.23"}
    answer = httpx.get(audio_url(nginx, recording), cookies=session(users["supervisor"]),
                       headers=forged)  # fmt: skip
    assert answer.status_code == 200
    assert AccessEvent.objects.get(action="recording.play").ip == "127.0.0.1"


@needs_nginx
def test_downloads_pass_through_the_portal_and_x_accel_redirect(
    nginx, stored_recording, users, session
):
    recording = stored_recording(format="mp3")
    url = nginx + reverse("catalog:download", kwargs={"pk": recording.pk})
    answer = httpx.get(url, cookies=session(users["supervisor"]))
    assert answer.status_code == 200
    assert answer.content == storage.path(recording.storage_key).read_bytes()
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert AccessEvent.objects.filter(action="recording.download").count() == 1


# --- the authorisation endpoint itself, as nginx calls it -------------------------------


def authorisation(client, recording_pk):
    return client.get(reverse("catalog:stream_authorisation", kwargs={"pk": recording_pk}))


def test_the_authorisation_names_the_file_and_how_long_nginx_may_keep_the_yes(
    client_for, stored_recording
):
    recording = stored_recording(format="mp3")
    answer = authorisation(client_for("supervisor"), recording.pk)
    assert answer.status_code == 200 and answer.content == b""
    assert answer["X-Media-File"] == recording.storage_key
    assert answer["X-Accel-Expires"] == str(KEEP_SECONDS)


def test_the_authorisation_refuses_with_401_and_403_and_keeps_no_refusal(
    client_for, stored_recording
):
    recording = stored_recording(format="mp3")
    assert authorisation(client_for(None), recording.pk).status_code == 401
    refused = authorisation(client_for("auditor"), recording.pk)
    assert refused.status_code == 403 and "X-Accel-Expires" not in refused
    assert plays(recording) == 0


def test_nothing_to_play_names_no_file_and_is_not_kept(client_for, stored_recording):
    recording = stored_recording(format="mp3")
    Recording.objects.filter(pk=recording.pk).update(storage_key="../../etc/passwd")
    answer = authorisation(client_for("supervisor"), recording.pk)
    assert answer.status_code == 200
    assert "X-Media-File" not in answer and answer["X-Accel-Expires"] == "0"
    assert plays(recording) == 0


def test_the_authorisation_is_off_unless_configured(client_for, stored_recording, settings):
    settings.MEDIA_AUTH_REQUEST_SECONDS = 0
    assert authorisation(client_for("supervisor"), stored_recording().pk).status_code == 404


def test_nginx_config_refuses_without_an_accel_prefix(settings, capsys):
    from django.core.management.base import CommandError

    settings.MEDIA_ACCEL_REDIRECT_PREFIX = ""
    with pytest.raises(CommandError, match="MEDIA_ACCEL_REDIRECT_PREFIX is empty"):
        call_command("nginx_config")


def test_nginx_config_without_auth_request_leaves_the_audio_to_django(settings, capsys):
    settings.MEDIA_AUTH_REQUEST_SECONDS = 0
    call_command("nginx_config", "--upstream", "unix:/run/portal.sock")
    printed = capsys.readouterr().out
    assert "server unix:/run/portal.sock;" in printed
    assert "location /protected-media/" in printed and "internal;" in printed
    assert "auth_request" not in printed
