"""The recording page: what it shows, to whom, the player's markup and the way back."""

import html
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog.models import Direction, Recording, RecordingState
from recordings_portal.catalog.views.detail import back_link, masked_spans

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # The player's listening markers live in the cache: start each test without any.
    locmem = "django.core.cache.backends.locmem.LocMemCache"
    settings.CACHES = {"default": {"BACKEND": locmem, "LOCATION": "detail"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def recording(stored_recording):
    return stored_recording(
        format="mp3",
        vendor_call_id="call-8812",
        caller="+441632960001",
        callee="+441632960002",
        direction=Direction.INBOUND,
        participants=["agent 7", {"name": "Dana", "role": "supervisor"}],
        vendor_state="completed",
        metadata={"queue": "billing", "note": "<script>alert(1)</script>"},
    )


def detail_url(recording, query: str = "") -> str:
    return reverse("catalog:detail", args=[recording.pk]) + query


def page(client, recording, query: str = "") -> str:
    response = client.get(detail_url(recording, query))
    assert response.status_code == 200
    return response.content.decode()


def back_href(text: str) -> str:
    match = re.search(r'<nav class="crumbs"[^>]*><a href="([^"]*)">Back to results</a>', text)
    assert match, "no back link"
    return html.unescape(match[1])


# --- what it shows -----------------------------------------------------------------------


def test_it_shows_the_calls_metadata(client_for, recording):
    text = page(client_for("supervisor"), recording)
    for expected in (
        "Stored",
        "Flyflow",
        recording.external_id,
        "call-8812",
        "+441632960001",
        "+441632960002",
        "Inbound",
        "agent 7",
        "name: Dana, role: supervisor",
        "MP3",
        "2 (caller left, callee right)",
        "8000 Hz",
        f"({recording.size} bytes)",
        recording.sha256,
        "completed",
        "0:20",
        "&quot;queue&quot;: &quot;billing&quot;",
    ):
        assert expected in text, expected


def test_metadata_is_shown_escaped(client_for, recording):
    text = page(client_for("supervisor"), recording)
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_it_records_the_view(client_for, users, recording):
    page(client_for("compliance"), recording)
    event = AccessEvent.objects.get(action="recording.view")
    assert event.object_id == str(recording.pk)
    assert event.actor == users["compliance"]


def test_it_is_404_for_an_unknown_recording(client_for, recording):
    response = client_for("supervisor").get(reverse("catalog:detail", args=[recording.pk + 99]))
    assert response.status_code == 404
    assert not AccessEvent.objects.filter(action="recording.view").exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [("supervisor", 200), ("compliance", 200), ("admin", 200), ("auditor", 403)],
)
def test_only_roles_that_browse_see_it(client_for, recording, role, status):
    assert client_for(role).get(detail_url(recording)).status_code == status


def test_anonymous_users_are_sent_to_sign_in(client, recording):
    response = client.get(detail_url(recording))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_htmx_gets_the_recording_partial(client_for, recording):
    response = client_for("supervisor").get(detail_url(recording), **HTMX)
    text = response.content.decode()
    assert "<html" not in text
    assert 'id="recording"' in text
    assert "js/player.js" in text


# --- the player --------------------------------------------------------------------------


def test_it_has_the_player_for_a_playable_recording(client_for, recording):
    text = page(client_for("supervisor"), recording)
    stream = reverse("catalog:stream", args=[recording.pk])
    assert f'<audio preload="metadata" controls src="{stream}"' in text
    assert f'data-peaks-url="{reverse("catalog:peaks", args=[recording.pk])}"' in text
    assert 'class="waveform stereo"' in text  # two lanes: caller and callee
    assert 'role="slider"' in text and 'aria-label="Back 10 seconds"' in text
    assert '<script src="/static/js/player.js" defer></script>' in text
    assert "Download the original recording" in text


def test_the_page_has_no_inline_script_style_or_handlers(client_for, recording):
    text = page(client_for("supervisor"), recording)
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>[^<]+</script>", text)
    assert not re.search(r"\sstyle=", text)
    assert not re.search(r"\son[a-z]+=", text)
    assert "<style" not in text


def test_masked_spans_are_handed_to_the_player(client_for, recording):
    spans = [
        {"start": 3, "end": 4.5, "channel": "caller"},
        {"start": 1, "end": 2, "channel": 1},
        {"start": 6, "end": 7},
    ]
    Recording.objects.filter(pk=recording.pk).update(
        state=RecordingState.MASKED, metadata={"masked_spans": spans}
    )
    text = page(client_for("supervisor"), recording)
    attribute = re.search(r'data-masked-spans="([^"]*)"', text)[1]
    assert html.unescape(attribute) == (
        '[{"start": 1.0, "end": 2.0, "lane": 1}, {"start": 3.0, "end": 4.5, "lane": 0}, '
        '{"start": 6.0, "end": 7.0, "lane": null}]'
    )
    assert "Masked parts: 0:01 to 0:02, callee; 0:03 to 0:04, caller; 0:06 to 0:07" in text
    assert "Download the masked recording" in text


def test_malformed_masked_spans_are_left_out():
    metadata = {
        "masked_spans": [
            {"start": "x", "end": 2},
            {"start": 5, "end": 4},
            {"start": float("nan"), "end": 1},
            "junk",
            {"start": -1, "end": 1, "channel": "left"},
        ]
    }
    assert masked_spans(metadata) == [{"start": 0.0, "end": 1.0, "lane": 0}]
    assert masked_spans({"masked_spans": "nope"}) == []
    assert masked_spans([]) == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (RecordingState.DISCOVERED, "has not been downloaded from Flyflow yet"),
        (RecordingState.DELETED, "This recording was deleted"),
        (RecordingState.FAILED, "The download failed"),
    ],
)
def test_it_says_why_there_is_no_player(client_for, recording, state, message):
    Recording.objects.filter(pk=recording.pk).update(state=state, last_error="Id Expired")
    text = page(client_for("supervisor"), recording)
    assert "data-player" not in text
    assert "Download the" not in text
    assert message in text
    if state == RecordingState.FAILED:
        assert 'Failed: <span class="error">Id Expired</span>' in text


def test_a_user_who_may_browse_but_not_play_gets_no_player(make_user, client, recording):
    user = make_user("reader")
    user.user_permissions.add(Permission.objects.get(codename="browse_recordings"))
    client.force_login(user)
    text = page(client, recording)
    assert "data-player" not in text
    assert reverse("catalog:download", args=[recording.pk]) not in text
    assert recording.sha256 in text


# --- the way back ------------------------------------------------------------------------


def test_back_keeps_the_searchs_filters(client_for, recording):
    text = page(client_for("supervisor"), recording, "?back=q%3Dsmith%26account%3D3%26page%3D2")
    assert back_href(text) == reverse("catalog:search") + "?q=smith&account=3&page=2"


def test_back_without_filters_is_the_search_page(client_for, recording):
    assert back_href(page(client_for("supervisor"), recording)) == reverse("catalog:search")


@pytest.mark.parametrize(
    "back",
    [
        "//evil.example/phish",
        "https://evil.example/",
        "javascript:alert(1)",
        "/admin/?x=1",
        '"><script>alert(1)</script>',
        "\\\\evil.example",
        "q=" + "x" * 5000,
    ],
)
def test_back_cannot_point_anywhere_but_the_search(back):
    link = back_link(back)
    search = reverse("catalog:search")
    assert link == search or link.startswith(search + "?")
    query = link.removeprefix(search).removeprefix("?")
    assert not re.search(r"[\"'<>\\/:]", query), query  # every such character is escaped


def test_back_drops_a_nested_back_and_keeps_blank_fields():
    assert back_link("?q=&back=x&state=masked") == reverse("catalog:search") + "?q=&state=masked"


# --- the player in a real browser (skipped where no Chromium is installed) ---------------

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


@contextmanager
def chromium():
    """A headless Chromium. Playwright runs an event loop in this thread while it is open, so
    Django's ORM refuses to run inside the block: prepare data before it, check after it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = next((path for path in CHROMIUM_PATHS if Path(path).exists()), None)
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable,
                args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
            )
        except sync_api.Error as exc:
            pytest.skip(f"no Chromium to drive: {exc.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


def test_the_player_works_in_a_browser(live_server, client, users, stored_recording, settings):
    recording = stored_recording(
        format="mp3", duration=60, metadata={"masked_spans": [{"start": 10, "end": 15}]}
    )
    client.force_login(users["supervisor"])
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    url = live_server.url + detail_url(recording)
    problems, time_of = [], "document.querySelector('audio').currentTime"
    paused = "document.querySelector('audio').paused"
    with chromium() as browser:
        context = browser.new_context()
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        tab = context.new_page()
        tab.on("pageerror", lambda error: problems.append(str(error)))
        tab.on("console", lambda m: m.type == "error" and "favicon" not in m.location["url"]
               and problems.append(m.text))  # fmt: skip
        tab.goto(url)
        tab.wait_for_selector("[data-ui]:not([hidden])")

        tab.click('[data-action="play"]')
        tab.wait_for_function(f"() => {time_of} > 0.3")  # a function: the CSP forbids eval
        assert tab.inner_text('[data-action="play"]') == "Pause"
        tab.click('[data-action="play"]')
        assert tab.evaluate(paused)
        box = tab.locator("[data-waveform]").bounding_box()
        tab.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert 29.5 < tab.evaluate(time_of) < 30.5  # half of a 60 s call
        tab.keyboard.press("ArrowRight")  # the waveform has focus after the click
        assert 34.5 < tab.evaluate(time_of) < 35.5
        tab.click('[data-action="back"]')
        assert 24.5 < tab.evaluate(time_of) < 25.5
        tab.select_option("[data-speed]", "1.5")
        assert tab.evaluate("document.querySelector('audio').playbackRate") == 1.5
        tab.focus("[data-speed]")
        tab.keyboard.press("ArrowLeft")  # in the select: its own key, not a seek
        assert 24.5 < tab.evaluate(time_of) < 25.5
        tab.focus("[data-waveform]")
        tab.keyboard.press(" ")
        assert not tab.evaluate(paused)
        tab.focus('[data-action="play"]')
        tab.keyboard.press(" ")  # the button's own Space: pauses once, not twice
        tab.wait_for_function(f"() => {paused}")
        assert tab.is_hidden("[data-peaks-status]")  # the waveform was drawn from the peaks
    assert problems == []
    assert AccessEvent.objects.filter(action="recording.play").count() == 1
