"""The recording page: what it shows, to whom, the player's markup and the way back."""

import html
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog.models import Direction, Recording, RecordingState
from recordings_portal.catalog.views.detail import back_link, masked_spans
from tests.lib.browser import chromium, signed_in_tab

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


@pytest.mark.parametrize("role", ["supervisor", "compliance"])
def test_the_page_has_no_inline_script_style_or_handlers(client_for, users, recording, role):
    from recordings_portal.compliance.models import MaskRequest

    MaskRequest.objects.create(
        recording=recording, requested_by=users["supervisor"], reason="pan", spans=[]
    )
    text = page(client_for(role), recording)
    assert "data-mask-panel" in text and "data-compliance" in text
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


# --- compliance: the box, and the masking mode of the player -------------------------------


def listener(make_user, client):
    """A client of a user who may browse and play but holds no compliance permission."""
    user = make_user("listener")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["browse_recordings", "play_recording"])
    )
    client.force_login(user)
    return client


def compliance_box(text: str) -> str:
    match = re.search(r"<section[^>]*data-compliance>.*?</section>", text, re.S)
    assert match, "no compliance box"
    return match[0]


@pytest.mark.parametrize("role", ["supervisor", "compliance", "admin"])
def test_roles_that_may_request_masking_get_the_masking_mode(client_for, recording, role):
    text = page(client_for(role), recording)
    mask_new = reverse("compliance:mask_new", args=[recording.pk])
    assert "data-mask-panel" in text and "data-mask-toggle" in text
    assert f'hx-post="{mask_new}" hx-target="#mask-problems"' in text
    assert f'action="{mask_new}"' in text and 'name="reason"' in text and "required" in text
    assert '<script src="/static/js/mask-select.js" defer></script>' in text
    # Stereo: each side can be chosen; the fallback without JavaScript is the typed form.
    assert '<option value="caller">Caller</option><option value="callee">Callee</option>' in text
    assert f'<a href="{mask_new}">type the times</a>' in text
    assert reverse("compliance:recording", args=[recording.pk]) in compliance_box(text)


def test_a_user_without_compliance_permissions_gets_no_masking_and_no_box(
    make_user, client, recording
):
    text = page(listener(make_user, client), recording)
    assert "data-player" in text
    assert "data-mask-panel" not in text and "mask-select.js" not in text
    assert "data-compliance" not in text
    assert reverse("compliance:recording", args=[recording.pk]) not in text


def test_a_held_recording_offers_no_masking_and_says_why(client_for, recording):
    Recording.objects.filter(pk=recording.pk).update(legal_hold=True)
    text = page(client_for("compliance"), recording)
    assert "data-player" in text
    assert "data-mask-panel" not in text and "data-mask-toggle" not in text
    box = compliance_box(text)
    assert '<span class="badge warn">on hold</span>' in box
    assert "masking waits until the hold is lifted" in box


def test_a_recording_being_masked_offers_no_second_masking(client_for, users, recording):
    from recordings_portal.compliance.models import MaskRequest, MaskState

    MaskRequest.objects.create(
        recording=recording, requested_by=users["supervisor"], reason="pan",
        state=MaskState.PROCESSING,
    )  # fmt: skip
    text = page(client_for("supervisor"), recording)
    assert "data-mask-panel" not in text
    assert "It is being masked right now" in compliance_box(text)


def test_no_masking_mode_without_stored_audio(client_for, recording):
    Recording.objects.filter(pk=recording.pk).update(state=RecordingState.DISCOVERED)
    text = page(client_for("compliance"), recording)
    assert "data-mask-panel" not in text
    assert "No open masking request." in compliance_box(text)


@pytest.mark.parametrize(
    ("kind", "can_delete", "outlook"),
    [
        ("flyflow", False, "an unmasked copy remains at Flyflow"),
        ("kaleyra", False, "an unmasked copy remains at Kaleyra"),
        ("audian", True, "Audian keeps an unmasked copy unless you choose to delete it there."),
        ("iotcomms", True, "iotcomms SIPRec is asked to mask its own copy too"),
    ],
)
def test_the_masking_mode_says_what_becomes_of_the_vendors_copy(
    client_for, stored_recording, kind, can_delete, outlook
):
    from recordings_portal.vendors.models import VendorAccount

    account = VendorAccount.objects.create(kind=kind, name=f"{kind} 1", base_url="https://v.test")
    recording = stored_recording(account=account, channels=1)
    text = page(client_for("supervisor"), recording)
    assert outlook in html.unescape(text)
    assert ('name="delete_vendor_copy"' in text) is can_delete
    # Mono: a side cannot be told apart, so "both" is the only choice.
    assert '<select data-channel><option value="both">Both (mono)</option></select>' in text


def test_the_compliance_box_lists_open_requests_and_the_deletion(
    client_for, users, make_user, client, recording, stored_recording
):
    from recordings_portal.compliance.models import MaskRequest, MaskState
    from recordings_portal.compliance.services.deletion import recording_delete

    waiting = MaskRequest.objects.create(
        recording=recording, requested_by=users["supervisor"], reason="pan", spans=[]
    )
    done = MaskRequest.objects.create(
        recording=recording, requested_by=users["supervisor"], reason="x", state=MaskState.DONE
    )
    officer = compliance_box(page(client_for("compliance"), recording))
    assert '<span class="badge warn">Requested</span>' in officer
    link = reverse("compliance:mask_detail", args=[waiting.pk])
    assert f'<a href="{link}">request {waiting.pk}</a> by supervisor-user' in officer
    assert f"request {done.pk}" not in officer  # done: no longer open
    assert "Not held." in officer
    # Another supervisor sees the request but may not open it (its page would refuse them).
    client.force_login(make_user("sam", "supervisor"))
    other = compliance_box(page(client, recording))
    assert f"request {waiting.pk} by supervisor-user" in other and link not in other

    gone = stored_recording()
    recording_delete(recording_id=gone.id, user=users["compliance"], reason="gdpr")
    box = compliance_box(page(client_for("compliance"), gone))
    assert "Deleted " in box and "by compliance-user" in box
    assert "No vendor API" in box  # Flyflow: nothing could be done there


def test_the_compliance_box_costs_one_query(client_for, users, make_user, client, recording):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recordings_portal.compliance.models import MaskRequest

    MaskRequest.objects.create(
        recording=recording, requested_by=users["supervisor"], reason="pan", spans=[]
    )
    Recording.objects.filter(pk=recording.pk).update(legal_hold=True)

    def queries(for_client) -> int:
        for_client.get(detail_url(recording))  # warm: sessions, content types
        with CaptureQueriesContext(connection) as captured:
            assert for_client.get(detail_url(recording)).status_code == 200
        return len(captured)

    without = queries(listener(make_user, client))
    assert without > 3  # it did count
    assert queries(client_for("compliance")) == without + 1


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


def test_the_player_works_in_a_browser(live_server, client, users, stored_recording, settings):
    recording = stored_recording(
        format="mp3", duration=60, metadata={"masked_spans": [{"start": 10, "end": 15}]}
    )
    client.force_login(users["supervisor"])
    url = live_server.url + detail_url(recording)
    problems, time_of = [], "document.querySelector('audio').currentTime"
    paused = "document.querySelector('audio').paused"
    with chromium() as browser:
        tab = signed_in_tab(browser, live_server, client, settings, problems)
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


def test_a_masking_request_is_marked_on_the_waveform_in_a_browser(
    live_server, client, users, stored_recording, settings
):
    from recordings_portal.compliance.models import MaskRequest, MaskState

    recording = stored_recording(format="mp3", duration=30)
    client.force_login(users["supervisor"])
    url = live_server.url + detail_url(recording)
    problems, time_of = [], "document.querySelector('audio').currentTime"
    with chromium() as browser:
        tab = signed_in_tab(browser, live_server, client, settings, problems)
        csp = tab.goto(url).headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp
        tab.wait_for_selector("[data-mask-toggle]:not([hidden])")
        assert tab.is_hidden("[data-mask-panel]")

        tab.click("[data-mask-toggle]")
        assert tab.is_visible("[data-mask-panel]")
        # Nothing marked yet: the portal says what is missing, in the panel, which stays.
        tab.fill("#mask-reason", "card number read out")
        tab.click("[data-mask-request] button[type=submit]")
        tab.wait_for_selector("#mask-problems >> text=Mark at least one span")
        assert tab.is_visible("[data-mask-panel]")
        tab.locator("[data-waveform]").scroll_into_view_if_needed()
        box = tab.locator("[data-waveform]").bounding_box()
        y = box["y"] + box["height"] * 0.75  # in the callee's lane, though that picks nothing

        def x(fraction):
            return box["x"] + box["width"] * fraction

        tab.mouse.move(x(0.2), y)
        tab.mouse.down()
        tab.mouse.move(x(0.3), y, steps=4)
        tab.mouse.move(x(0.4), y, steps=4)
        tab.mouse.up()
        row = tab.locator("[data-mask-list] li")
        assert row.count() == 1
        assert float(row.locator("[data-start]").input_value()) == pytest.approx(6.0, abs=0.15)
        assert float(row.locator("[data-end]").input_value()) == pytest.approx(12.0, abs=0.15)
        assert "Part 1 marked" in tab.inner_text("[data-mask-status]")

        # Its end edge is dragged to the half; a plain click still moves the playhead.
        tab.mouse.move(x(0.4), y)
        tab.mouse.down()
        tab.mouse.move(x(0.5), y, steps=5)
        tab.mouse.up()
        assert float(row.locator("[data-end]").input_value()) == pytest.approx(15.0, abs=0.15)
        tab.mouse.click(x(0.8), y)
        assert 23.5 < tab.evaluate(time_of) < 24.5
        assert row.count() == 1

        # A second part, typed in, then deleted again.
        tab.click("[data-mask-add]")
        assert row.count() == 2
        row.nth(1).locator("[data-remove]").click()
        assert row.count() == 1

        row.locator("[data-channel]").select_option("callee")
        tab.fill("#mask-reason", "")
        tab.click("[data-mask-request] button[type=submit]")  # no reason: the browser stops it
        assert tab.evaluate("!document.querySelector('#mask-reason').validity.valid")
        tab.fill("#mask-reason", "card number read out")
        tab.click("[data-mask-request] button[type=submit]")
        created = tab.wait_for_selector("[data-mask-created]")
        assert "Masking requested" in created.inner_text()
        assert "Requested" in created.inner_text()
        assert tab.is_hidden("[data-mask-toggle]")
        assert "Requested" in tab.inner_text("[data-open-masks]")  # the list below, swapped too

        tab.reload()
        tab.wait_for_selector("[data-ui]:not([hidden])")
        assert "Requested" in tab.inner_text("[data-open-masks]")
    assert problems == []
    mask = MaskRequest.objects.get()
    assert mask.state == MaskState.REQUESTED and mask.requested_by == users["supervisor"]
    assert len(mask.spans) == 1 and mask.spans[0]["channel"] == "callee"
    assert mask.spans[0]["start"] == pytest.approx(6.0, abs=0.15)
    assert mask.spans[0]["end"] == pytest.approx(15.0, abs=0.15)
    assert mask.reason == "card number read out" and mask.trim is None
    event = AccessEvent.objects.get(action="mask.request")
    assert event.object_id == str(recording.pk) and event.details["mask_request"] == mask.id
