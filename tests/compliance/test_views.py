"""The compliance pages: forms in plain HTML (htmx where it helps), refusals shown as they are."""

import re

import pytest
from django.urls import reverse

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.compliance.models import (
    DeletionRecord,
    LegalHold,
    MaskRequest,
    MaskState,
    RetentionPolicy,
    VendorState,
)
from recordings_portal.compliance.services.deletion import recording_delete

from .conftest import events


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """Tasks are not run by these tests: what would be queued is collected instead."""
    queued = []
    monkeypatch.setattr(
        "recordings_portal.compliance.tasks.enqueue", lambda task, *args: queued.append(args)
    )
    return queued


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_supervisor_requests_masking_with_the_plain_form(people, as_user, flyflow):
    recording = flyflow(duration=20)
    url = reverse("compliance:mask_new", args=[recording.id])
    page = as_user(people.supervisor).get(url)
    assert b"Spans to beep over" in page.content
    assert b"delete_vendor_copy" not in page.content  # Flyflow cannot delete its copy
    assert b"no API to mask or delete its copy" in page.content

    response = as_user(people.supervisor).post(
        url,
        {"reason": "card read out", "spans_text": "0:03-0:05 caller\n10 - 12", "trim_start": ""},
    )

    mask = MaskRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("compliance:mask_detail", args=[mask.id])
    assert mask.spans == [
        {"start": 3.0, "end": 5.0, "channel": "caller"},
        {"start": 10.0, "end": 12.0, "channel": "both"},
    ]
    detail = as_user(people.supervisor).get(response["Location"])
    assert b"Waiting for someone in compliance other than sue" in detail.content


def test_the_waveform_selection_posts_json_spans_and_gets_the_partial(people, as_user, audian):
    recording = audian(duration=20)
    url = reverse("compliance:mask_new", args=[recording.id])
    assert b"delete_vendor_copy" in as_user(people.supervisor).get(url).content
    response = as_user(people.supervisor).post(
        url,
        {
            "reason": "PAN",
            "spans": '[{"start": 1.5, "end": 2.5, "channel": "callee"}]',
            "delete_vendor_copy": "on",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and b"Masking requested" in response.content
    assert b"<html" not in response.content
    mask = MaskRequest.objects.get()
    assert mask.delete_vendor_copy and mask.spans[0]["channel"] == "callee"


def test_the_form_says_what_is_wrong(people, as_user, flyflow):
    recording = flyflow(duration=20)
    url = reverse("compliance:mask_new", args=[recording.id])
    bad_line = as_user(people.supervisor).post(url, {"reason": "x", "spans_text": "soon"})
    assert bad_line.status_code == 400 and b"is not start-end and a side" in bad_line.content
    too_late = as_user(people.supervisor).post(url, {"reason": "x", "spans_text": "19-25"})
    assert too_late.status_code == 400 and b"after the recording&#x27;s end" in too_late.content
    assert not MaskRequest.objects.exists()


def test_a_held_recording_offers_no_masking_and_says_why(people, as_user, flyflow):
    recording = flyflow(legal_hold=True)
    page = as_user(people.supervisor).get(reverse("compliance:mask_new", args=[recording.id]))
    assert b"It cannot be masked now" in page.content and b"legal hold" in page.content
    assert b'name="reason"' not in page.content


def test_the_queue_approves_with_htmx_and_never_shows_buttons_to_the_requester(
    people, as_user, flyflow, no_queue
):
    theirs = MaskRequest.objects.create(
        recording=flyflow(), requested_by=people.supervisor, reason="pan", spans=[]
    )
    own = MaskRequest.objects.create(
        recording=flyflow(), requested_by=people.alice, reason="pan", spans=[]
    )
    queue = as_user(people.alice).get(reverse("compliance:queue"))
    approve_own = reverse("compliance:mask_approve", args=[own.id]).encode()
    assert reverse("compliance:mask_approve", args=[theirs.id]).encode() in queue.content
    assert approve_own not in queue.content and b"You asked for this one" in queue.content

    response = as_user(people.alice).post(
        reverse("compliance:mask_approve", args=[theirs.id]),
        {"note": "checked"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and b'id="mask-%d"' % theirs.id in response.content
    assert b"Approved" in response.content
    theirs.refresh_from_db()
    assert theirs.state == MaskState.APPROVED

    # Posting anyway (no button) is refused by the service, and said.
    refused = as_user(people.alice).post(reverse("compliance:mask_approve", args=[own.id]))
    assert refused.status_code == 302
    follow = as_user(people.alice).get(refused["Location"])
    assert any("Four eyes" in text for text in messages_of(follow))
    own.refresh_from_db()
    assert own.state == MaskState.REQUESTED


def test_a_rejection_without_a_note_is_refused(people, as_user, flyflow):
    mask = MaskRequest.objects.create(
        recording=flyflow(), requested_by=people.supervisor, reason="pan", spans=[]
    )
    response = as_user(people.bob).post(
        reverse("compliance:mask_reject", args=[mask.id]),
        {"note": ""},
        headers={"HX-Request": "true"},
    )
    assert b"Say why you reject" in response.content
    mask.refresh_from_db()
    assert mask.state == MaskState.REQUESTED


def test_my_requests_show_their_outcomes(people, as_user, flyflow):
    MaskRequest.objects.create(
        recording=flyflow(),
        requested_by=people.supervisor,
        reason="pan",
        state=MaskState.FAILED,
        failure_reason="The masked file did not pass verification",
    )
    page = as_user(people.supervisor).get(reverse("compliance:my_requests"))
    assert b"did not pass verification" in page.content
    assert b"did not pass" not in as_user(people.bob).get(reverse("compliance:my_requests")).content


def test_someone_elses_request_is_not_shown_to_a_supervisor(people, as_user, flyflow, make_user):
    mask = MaskRequest.objects.create(
        recording=flyflow(), requested_by=people.supervisor, reason="pan", spans=[]
    )
    other = make_user("sam", "supervisor")
    url = reverse("compliance:mask_detail", args=[mask.id])
    assert as_user(other).get(url).status_code == 403
    assert as_user(people.bob).get(url).status_code == 200


def test_the_recording_page_is_an_access_event_and_offers_what_the_user_may_do(
    people, as_user, flyflow
):
    recording = flyflow()
    url = reverse("compliance:recording", args=[recording.id])
    supervisor = as_user(people.supervisor).get(url).content
    assert b"Request masking" in supervisor and b"Set a legal hold" not in supervisor
    assert b"Legal hold history" not in supervisor
    officer = as_user(people.alice).get(url).content
    assert b"Set a legal hold" in officer and b"Delete this recording" in officer
    assert [e.details for e in events("recording.view")] == [{"page": "compliance"}] * 2


def test_it_deletes_from_the_confirmation_page(people, as_user, flyflow):
    recording = flyflow()
    url = reverse("compliance:delete", args=[recording.id])
    page = as_user(people.admin).get(url)
    assert b"offers no API to delete its copy" in page.content
    assert as_user(people.admin).post(url, {"reason": ""}).status_code == 400
    response = as_user(people.admin).post(url, {"reason": "duplicate upload"})
    assert response.status_code == 302
    recording.refresh_from_db()
    assert recording.state == RecordingState.DELETED
    shown = as_user(people.admin).get(response["Location"]).content
    assert b"Deleted on" in shown and b"duplicate upload" in shown


def test_a_hold_is_set_and_lifted_from_the_recording_page(people, as_user, flyflow):
    recording = flyflow()
    client = as_user(people.alice)
    client.post(reverse("compliance:hold", args=[recording.id]), {"reason": "case 17"})
    recording.refresh_from_db()
    assert recording.legal_hold
    page = client.get(reverse("compliance:delete", args=[recording.id]))
    assert b"It cannot be deleted" in page.content and b"case 17" in page.content
    assert b"case 17" in client.get(reverse("compliance:holds")).content
    client.post(reverse("compliance:lift", args=[recording.id]), {"reason": "closed"})
    recording.refresh_from_db()
    assert not recording.legal_hold
    assert LegalHold.objects.get().lift_reason == "closed"


def test_the_bulk_confirmation_counts_by_vendor_then_deletes(people, as_user, flyflow, audian):
    rows = [flyflow(), flyflow(), audian()]
    held = audian(legal_hold=True)
    ids = [r.id for r in rows] + [held.id]
    client = as_user(people.alice)

    page = client.post(reverse("compliance:bulk_delete_confirm"), {"ids": ids})

    text = page.content.decode()
    assert "Delete 3 recordings" in text
    assert re.search(r"Stored.*?<td>2</td>.*?remain at Flyflow", text, re.S)
    assert re.search(r"Test audian.*?<td>1</td>.*?deleted through Audian", text, re.S)
    assert "Not deleted (1)" in text and "Lift the hold" in text
    assert text.count('name="ids"') == 3  # the held one is not posted on

    done = client.post(reverse("compliance:bulk_delete"), {"ids": ids, "reason": "contract ended"})
    assert done.status_code == 302
    assert DeletionRecord.objects.count() == 3
    follow = client.get(done["Location"])
    assert "Deleted 3 recording(s)." in messages_of(follow)
    assert any("1 not deleted" in m for m in messages_of(follow))


def test_bulk_ids_may_come_comma_separated_in_the_url(people, as_user, flyflow):
    rows = [flyflow(), flyflow()]
    url = reverse("compliance:bulk_delete_confirm") + f"?ids={rows[0].id},{rows[1].id}"
    assert b"Delete 2 recordings" in as_user(people.admin).get(url).content


def test_bulk_holds_are_confirmed_then_set_and_lifted(people, as_user, flyflow):
    rows = [flyflow(), flyflow(legal_hold=True)]
    client = as_user(people.alice)
    page = client.post(reverse("compliance:bulk_hold_confirm"), {"ids": [r.id for r in rows]})
    assert b"Set a legal hold on 1 recording" in page.content and b"already held" in page.content
    client.post(
        reverse("compliance:bulk_hold"),
        {"ids": [rows[0].id], "action": "set", "reason": "case 9"},
    )
    assert Recording.objects.filter(legal_hold=True).count() == 2
    client.post(
        reverse("compliance:bulk_hold"),
        {"ids": [r.id for r in rows], "action": "lift", "reason": "done"},
    )
    assert Recording.objects.filter(legal_hold=True).count() == 0


def test_the_deletions_page_shows_the_vendor_state_and_gives_up_with_a_reason(
    people, as_user, audian
):
    deletion = recording_delete(recording_id=audian().id, user=people.alice, reason="gdpr")
    DeletionRecord.objects.filter(id=deletion.id).update(
        vendor_state=VendorState.FAILED, vendor_error="Audian answered 500: a server error."
    )
    client = as_user(people.admin)
    page = client.get(reverse("compliance:deletions") + "?show=failed")
    assert b"Audian answered 500" in page.content and b"Retry" in page.content

    give_up = reverse("compliance:deletion_give_up", args=[deletion.id])
    assert b"may remain at Audian" in client.get(give_up).content
    assert client.post(give_up, {"reason": ""}).status_code == 400
    client.post(give_up, {"reason": "deleted by Audian support"})
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.GAVE_UP
    assert b"deleted by Audian support" in client.get(reverse("compliance:deletions")).content


def test_a_failed_vendor_deletion_is_retried_from_the_page(people, as_user, audian, no_queue):
    deletion = recording_delete(recording_id=audian().id, user=people.alice, reason="gdpr")
    DeletionRecord.objects.filter(id=deletion.id).update(vendor_state=VendorState.FAILED)
    as_user(people.alice).post(reverse("compliance:deletion_retry", args=[deletion.id]))
    deletion.refresh_from_db()
    assert deletion.vendor_state == VendorState.PENDING and no_queue == [(deletion.id,)]


def test_retention_is_set_per_account_and_previewed(people, as_user, flyflow):
    from datetime import timedelta

    from django.utils import timezone

    recording = flyflow(started_at=timezone.now() - timedelta(days=40))
    client = as_user(people.alice)
    url = reverse("compliance:retention_edit", args=[recording.account_id])
    assert client.post(url, {"keep": "days"}).status_code == 400
    client.post(url, {"keep": "days", "days": "30"})
    assert RetentionPolicy.objects.get().keep_days == 30
    assert b"Delete after 30 days" in client.get(reverse("compliance:retention")).content
    preview = client.get(reverse("compliance:retention_preview"), headers={"HX-Request": "true"})
    assert b"<strong>1</strong> recording" in preview.content and b"<html" not in preview.content
    client.post(url, {"keep": "forever"})
    assert RetentionPolicy.objects.get().keep_days is None


def test_the_home_page_counts_what_needs_attention(people, as_user, flyflow):
    MaskRequest.objects.create(
        recording=flyflow(), requested_by=people.supervisor, reason="pan", spans=[]
    )
    page = as_user(people.alice).get(reverse("compliance:index"))
    assert re.search(rb"Masking requests waiting</h2>\s*<p class=\"figure-value\">1<", page.content)
    supervisor = as_user(people.supervisor).get(reverse("compliance:index")).content
    assert b"Masking requests waiting" not in supervisor and b"My open requests" in supervisor


def test_no_page_carries_inline_script_style_or_handlers(people, as_user, flyflow, audian):
    recording = flyflow()
    mask = MaskRequest.objects.create(
        recording=recording, requested_by=people.supervisor, reason="pan", spans=[]
    )
    deletion = recording_delete(recording_id=audian().id, user=people.alice, reason="x")
    urls = [
        reverse("compliance:index"),
        reverse("compliance:queue"),
        reverse("compliance:my_requests"),
        reverse("compliance:mask_detail", args=[mask.id]),
        reverse("compliance:recording", args=[recording.id]),
        reverse("compliance:mask_new", args=[recording.id]),
        reverse("compliance:delete", args=[recording.id]),
        reverse("compliance:deletions"),
        reverse("compliance:deletion_give_up", args=[deletion.id]),
        reverse("compliance:holds") + "?show=all",
        reverse("compliance:retention"),
        reverse("compliance:retention_preview"),
        reverse("compliance:retention_edit", args=[recording.account_id]),
        reverse("compliance:bulk_delete_confirm") + f"?ids={recording.id}",
        reverse("compliance:bulk_hold_confirm") + f"?ids={recording.id}",
    ]
    client = as_user(people.alice)
    for url in urls:
        html = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert not re.search(r"\sstyle=|\son[a-z]+=", html), url
        for link in re.findall(r"<[^>]*hx-get=[^>]*>", html):
            assert "href=" in link or "<div" in link, (url, link)


# --- what the recording page's player posts ------------------------------------------------

PLAYER = {"HX-Request": "true", "HX-Target": "mask-problems"}


def test_the_players_spans_make_a_request_and_its_panel_gets_the_notice(people, as_user, audian):
    recording = audian(duration=20)
    response = as_user(people.supervisor).post(
        reverse("compliance:mask_new", args=[recording.id]),
        {
            "spans": '[{"start": 2.5, "end": 4, "channel": "callee"},'
            ' {"start": 3, "end": 6.2, "channel": "both"}]',
            "trim_start": "1",
            "trim_end": "19.5",
            "reason": "card number read out",
            "delete_vendor_copy": "on",
        },
        headers=PLAYER,
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#mask-form" and response["HX-Reswap"] == "outerHTML"
    mask = MaskRequest.objects.get()
    text = response.content.decode()
    assert '<div id="mask-form">' in text and "Masking requested" in text
    assert '<span class="badge warn">Requested</span>' in text
    # The page's list of open requests is replaced too (out of band), with the new one in it.
    assert '<div id="open-masks" data-open-masks hx-swap-oob="true">' in text
    assert reverse("compliance:mask_detail", args=[mask.id]) in text
    assert mask.state == MaskState.REQUESTED and mask.requested_by == people.supervisor
    assert mask.spans == [  # normalised by the service: what both sides share is "both"
        {"start": 2.5, "end": 3.0, "channel": "callee"},
        {"start": 3.0, "end": 6.2, "channel": "both"},
    ]
    assert mask.trim == [1.0, 19.5] and mask.delete_vendor_copy
    (event,) = events("mask.request")
    assert event.actor == people.supervisor and event.object_id == str(recording.id)
    assert event.details["mask_request"] == mask.id
    assert event.details["reason"] == "card number read out"
    assert event.details["trim"] == [1.0, 19.5] and event.details["delete_vendor_copy"] is True


def test_the_player_gets_only_its_problems_back(people, as_user, flyflow):
    recording = flyflow(duration=20)
    url = reverse("compliance:mask_new", args=[recording.id])
    client = as_user(people.supervisor)

    missing = client.post(url, {"spans": "[]", "reason": ""}, headers=PLAYER)
    assert missing.status_code == 200 and "HX-Retarget" not in missing  # htmx swaps 2xx only
    text = missing.content.decode()
    assert text.strip().startswith('<div class="error" role="alert">')
    assert "Reason: This field is required." in text and "<form" not in text

    late = client.post(
        url, {"spans": '[{"start": 18, "end": 25, "channel": "caller"}]', "reason": "pan"},
        headers=PLAYER,
    )  # fmt: skip
    assert late.status_code == 200
    assert "Span 1 ends at 25 s, after the recording&#x27;s end" in late.content.decode()

    nothing = client.post(url, {"spans": "[]", "reason": "pan"}, headers=PLAYER)
    assert b"Mark at least one span to mask" in nothing.content
    unreadable = client.post(url, {"spans": "[{", "reason": "pan"}, headers=PLAYER)
    assert b"Marked parts: The selected spans could not be read." in unreadable.content
    half_trim = client.post(
        url, {"spans": "[]", "trim_start": "3", "reason": "pan"}, headers=PLAYER
    )
    assert b"Keep until: Give both ends" in half_trim.content
    assert not MaskRequest.objects.exists() and not events("mask.request")


def test_the_player_is_refused_a_recording_held_meanwhile(people, as_user, flyflow):
    recording = flyflow(duration=20)
    Recording.objects.filter(id=recording.id).update(legal_hold=True)
    response = as_user(people.supervisor).post(
        reverse("compliance:mask_new", args=[recording.id]),
        {"spans": '[{"start": 1, "end": 2, "channel": "both"}]', "reason": "pan"},
        headers=PLAYER,
    )
    assert b"legal hold" in response.content and "HX-Retarget" not in response
    assert not MaskRequest.objects.exists()


def test_the_player_cannot_post_without_the_permission(people, as_user, flyflow):
    recording = flyflow(duration=20)
    response = as_user(people.auditor).post(
        reverse("compliance:mask_new", args=[recording.id]),
        {"spans": '[{"start": 1, "end": 2, "channel": "both"}]', "reason": "pan"},
        headers=PLAYER,
    )
    assert response.status_code == 403 and not MaskRequest.objects.exists()
