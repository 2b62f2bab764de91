from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from recordings_portal.audit.log import record
from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog.models import Recording
from recordings_portal.vendors.models import VendorAccount

from .conftest import HTMX, append_chain, raw

HTMX_PAGER = {**HTMX, "HTTP_HX_TARGET": "access-results"}


@pytest.fixture
def recording(db):
    account = VendorAccount.objects.create(name="Main", kind="flyflow", base_url="https://a.test")
    return Recording.objects.create(account=account, external_id="call-1")


def body(response) -> str:
    return response.content.decode()


def views():
    return list(AccessEvent.objects.filter(action="audit.view").order_by("id"))


# --- who may -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "compliance", "admin"])
def test_it_refuses_the_log_and_every_action_to_other_roles(client_for, recording, role):
    client = client_for(role)
    user_id = client.session["_auth_user_id"]
    for url in (
        reverse("audit:log"),
        reverse("audit:recording", args=[recording.id]),
        reverse("audit:user", args=[user_id]),
        reverse("audit:export"),
        reverse("audit:export-manifest"),
    ):
        assert client.get(url).status_code == 403
        assert client.get(url, **HTMX).status_code == 403  # partials are checked too
    assert client.post(reverse("audit:verify")).status_code == 403
    assert not AccessEvent.objects.filter(action__startswith="audit.").exists()


def test_exports_need_the_export_permission(make_user, client, db):
    reader = make_user("reader")
    reader.user_permissions.add(
        Permission.objects.get(content_type__app_label="audit", codename="view_access_log")
    )
    client.force_login(reader)
    assert client.get(reverse("audit:log")).status_code == 200
    assert b"manifest" not in client.get(reverse("audit:log")).content  # no export links
    assert client.get(reverse("audit:export")).status_code == 403
    assert client.get(reverse("audit:export-manifest")).status_code == 403


def test_it_links_the_access_log_in_the_nav_for_auditors_only(client_for):
    assert b"Access log" in client_for("auditor").get(reverse("dashboard:home")).content
    for role in ("supervisor", "compliance", "admin"):
        assert b"Access log" not in client_for(role).get(reverse("dashboard:home")).content


def test_it_refuses_a_get_to_verify(auditor):
    assert auditor.get(reverse("audit:verify")).status_code == 405


# --- the log -----------------------------------------------------------------------------


def test_it_shows_the_newest_events_with_links_to_the_person_and_the_recording(
    auditor, make_user, recording
):
    sam = make_user("sam", "supervisor")
    record("recording.play", actor=sam, obj=recording, details={"range": "bytes=0-"})
    response = auditor.get(reverse("audit:log"))
    html = body(response)
    assert response.status_code == 200
    assert "recording.play" in html
    assert reverse("audit:user", args=[sam.id]) in html
    assert reverse("audit:recording", args=[recording.id]) in html
    assert "bytes=0-" in html


def test_viewing_the_log_is_itself_an_access_event(auditor, users):
    auditor.get(reverse("audit:log"), {"action": "recording.play"})
    (event,) = views()
    assert event.actor == users["auditor"]
    assert event.details["scope"] == "log"
    assert event.details["filters"] == {"action": "recording.play"}


def test_the_filters_live_in_the_url_and_narrow_the_results(auditor, make_user, recording):
    sam, cleo = make_user("sam", "supervisor"), make_user("cleo", "compliance")
    record("recording.play", actor=sam, obj=recording)
    record("recording.download", actor=cleo, obj=recording)
    html = body(auditor.get(reverse("audit:log"), {"actor": "cleo"}))
    assert "<td>recording.download</td>" in html
    assert "<td>recording.play</td>" not in html
    assert 'value="cleo"' in html  # the form shows the state it came from


def test_htmx_gets_the_results_partial_only(auditor, db):
    append_chain(3)
    response = auditor.get(reverse("audit:log"), {"outcome": "success"}, **HTMX)
    html = body(response)
    assert 'id="scope-results"' in html
    assert "<html" not in html
    assert 'id="verify-result"' not in html
    assert response["HX-Push-Url"] == reverse("audit:log") + "?outcome=success"
    pager = body(auditor.get(reverse("audit:log"), **HTMX_PAGER))
    assert pager.lstrip().startswith('<div id="access-results">')


def test_it_pages_with_older_and_newer_links_that_keep_the_filters(auditor, db):
    append_chain(120)
    html = body(auditor.get(reverse("audit:log"), {"action": "recording.play"}))
    older = _link(html, "Older")
    query = parse_qs(urlsplit(older).query)
    assert query["action"] == ["recording.play"]
    assert "before" in query
    assert f'hx-get="{older}"' in html.replace("&amp;", "&")  # and htmx gets the same URL
    second = body(auditor.get(older, **HTMX_PAGER))
    assert "← Newer" in second
    assert "Newest" in second
    shown = views()[-1].details
    assert shown["before"] == int(query["before"][0])
    assert shown["shown"] == 50


def _link(html: str, label: str) -> str:
    import re

    match = re.search(r'<a href="([^"]+)"[^>]*>[^<]*' + label, html)
    assert match, f"no {label} link"
    return match.group(1).replace("&amp;", "&")


def test_invalid_filters_are_explained_not_a_crash(auditor, db):
    response = auditor.get(reverse("audit:log"), {"since": "yesterday", "recording": "x"})
    assert response.status_code == 200
    assert "Fix the filters" in body(response)
    assert not views()


def test_there_is_no_inline_script_or_style(auditor, recording, make_user):
    record("recording.play", actor=make_user("sam", "supervisor"), obj=recording)
    for url in (
        reverse("audit:log"),
        reverse("audit:recording", args=[recording.id]),
        reverse("audit:user", args=[AccessEvent.objects.first().actor_id]),
    ):
        html = body(auditor.get(url))
        assert "<script>" not in html
        assert " style=" not in html
        assert " onclick=" not in html


# --- who accessed this recording, what did this user access ------------------------------


def test_the_recording_page_shows_who_accessed_it(auditor, make_user, recording):
    sam, cleo = make_user("sam", "supervisor"), make_user("cleo", "compliance")
    record("recording.play", actor=sam, obj=recording)
    record("recording.play", actor=sam, obj=recording)
    record("recording.download", actor=cleo, obj=recording)
    record("recording.play", actor=cleo, object_type="catalog.recording", object_id=999)
    response = auditor.get(reverse("audit:recording", args=[recording.id]))
    html = body(response)
    assert "Who accessed recording" in html
    assert "call-1" in html
    assert "recording.play (2)" in html
    assert "recording.download (1)" in html
    assert "recording 999" not in html
    (event,) = views()
    assert event.details["scope"] == "recording"
    assert event.details["recording"] == recording.id
    assert event.object_type == ""  # the auditor did not access the recording itself


def test_the_recording_page_works_for_a_recording_no_longer_in_the_catalog(auditor, make_user):
    record("recording.play", actor=make_user("sam"), object_type="catalog.recording", object_id=77)
    html = body(auditor.get(reverse("audit:recording", args=[77])))
    assert "no recording 77 in the catalog" in html
    assert "recording.play (1)" in html


def test_the_user_page_shows_what_they_accessed(auditor, make_user, recording):
    sam = make_user("sam", "supervisor")
    record("recording.view", actor=sam, obj=recording)
    record("recording.play", actor=sam, obj=recording)
    record("recording.play", actor=make_user("cleo"), object_type="catalog.recording", object_id=5)
    html = body(auditor.get(reverse("audit:user", args=[sam.id])))
    assert "What sam accessed" in html
    assert reverse("audit:recording", args=[recording.id]) in html
    assert "recording.play (1), recording.view (1)" in html
    assert "recording 5" not in html
    export_url = _link(html, "JSONL")
    assert parse_qs(urlsplit(export_url).query)["actor_id"] == [str(sam.id)]


def test_the_user_page_answers_404_for_an_unknown_user(auditor):
    assert auditor.get(reverse("audit:user", args=[99999])).status_code == 404


def test_scoped_pages_keep_their_scope_when_filtered_and_paged(auditor, make_user, recording):
    sam = make_user("sam")
    for _ in range(60):
        record("recording.play", actor=sam, obj=recording)
    record("recording.play", actor=sam, object_type="catalog.recording", object_id=999)
    url = reverse("audit:recording", args=[recording.id])
    html = body(auditor.get(url, {"action": "recording.play"}, **HTMX))
    assert "People" in html  # filtering refreshes the summary too
    older = _link(html, "Older")
    assert older.startswith(url)
    paged = body(auditor.get(older, **HTMX_PAGER))
    assert "recording 999" not in paged
    assert "People" not in paged  # paging swaps the events alone


# --- verify ------------------------------------------------------------------------------


def test_verify_says_the_chain_is_intact_through_the_last_event(auditor, db):
    append_chain(5)
    last, count = AccessEvent.objects.last(), AccessEvent.objects.count()  # + the sign-in
    response = auditor.post(reverse("audit:verify"), **HTMX)
    html = body(response)
    assert f"Intact through event #{last.id} ({count} events)." in html
    assert "<html" not in html
    event = AccessEvent.objects.get(action="audit.verify")
    assert event.outcome == "success"
    assert event.details["intact"] is True
    assert event.details["last_good_id"] == last.id


def test_verify_names_the_broken_event(auditor, db):
    append_chain(5)
    target = AccessEvent.objects.order_by("id")[2]
    raw("UPDATE audit_accessevent SET object_id = 'x' WHERE id = %s", [target.id])
    html = body(auditor.post(reverse("audit:verify"), **HTMX))
    assert f"Broken at event #{target.id}: its content does not match its hash" in html
    event = AccessEvent.objects.get(action="audit.verify")
    assert event.outcome == "failure"
    assert event.details["broken_id"] == target.id


def test_verify_without_htmx_redirects_with_the_result(auditor, db):
    append_chain(2)
    response = auditor.post(reverse("audit:verify"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("audit:log")
    assert "Intact through event" in body(response)
