from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from recordings_portal.catalog import storage
from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.vendors.models import VendorAccount

LIST = "/api/v1/recordings"
DETAIL = "/api/v1/recordings/{recording_id}"
MEDIA = "/api/v1/recordings/{recording_id}/media"
DAY = timezone.make_aware(datetime(2026, 3, 10, 9, 0))


@pytest.fixture
def api(api_for):
    return api_for("supervisor")


@pytest.fixture
def catalog(db):
    """Six recordings over two accounts, differing in every field the filters look at."""
    alpha = VendorAccount.objects.create(name="Alpha", kind="flyflow", base_url="https://a.test")
    beta = VendorAccount.objects.create(name="Beta", kind="audian", base_url="https://b.test")
    rows = [
        # name, account, day offset, duration, direction, caller, format, state
        ("a1", alpha, 0, 30, "inbound", "+14155550101", "mp3", RecordingState.AVAILABLE),
        ("a2", alpha, 1, 95, "outbound", "+14155550102", "wav", RecordingState.MASKED),
        ("a3", alpha, 2, 400, "inbound", "+442071230003", "mp3", RecordingState.DISCOVERED),
        ("b1", beta, 3, 12, "internal", "+14155550104", "opus", RecordingState.AVAILABLE),
        ("b2", beta, 4, 61, "inbound", "+442071230005", "wav", RecordingState.FAILED),
        ("b3", beta, 5, 200, "outbound", "+14155550106", "mp3", RecordingState.AVAILABLE),
    ]
    made = {}
    for name, account, offset, duration, direction, caller, fmt, state in rows:
        made[name] = Recording.objects.create(
            account=account,
            external_id=f"ext-{name}",
            vendor_call_id=f"call-{name}",
            started_at=DAY + timedelta(days=offset),
            duration=duration,
            direction=direction,
            caller=caller,
            callee="+15550009999",
            participants=[caller, "+15550009999"],
            format=fmt,
            state=state,
            metadata={"queue": "sales" if account is alpha else "support"},
        )
    return made


def names(response, catalog):
    by_id = {recording.pk: name for name, recording in catalog.items()}
    return [by_id[item["id"]] for item in response.json()["items"]]


# --- list and filters ----------------------------------------------------------------------


def test_it_lists_newest_first_by_default(api, catalog, openapi):
    response = api.get("/recordings")
    assert response.status_code == 200
    openapi.validate(response, LIST)
    assert names(response, catalog) == ["b3", "b2", "b1", "a3", "a2", "a1"]
    assert response.json()["next"] is None
    first = response.json()["items"][-1]
    assert first["account"] == {"id": catalog["a1"].account_id, "name": "Alpha", "kind": "flyflow"}
    assert first["url"] == f"/api/v1/recordings/{catalog['a1'].pk}"
    assert first["media_url"] is None  # no stored file behind it
    assert first["page_url"] == f"/recordings/{catalog['a1'].pk}/"
    assert response["Cache-Control"] == "private, no-store"


def test_the_schema_check_would_catch_a_body_that_does_not_fit(openapi):
    class Fake:
        status_code = 200

        def json(self):
            return {"items": [{"id": "not a number"}], "next": None}

    with pytest.raises(AssertionError, match="is not of type 'integer'"):
        openapi.validate(Fake(), LIST)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "442071230003"}, ["a3"]),
        ({"q": "support"}, ["b3", "b2", "b1"]),  # metadata values are searched
        ({"q": "call-b1"}, ["b1"]),
        ({"kind": "flyflow"}, ["a3", "a2", "a1"]),
        ({"direction": "inbound"}, ["b2", "a3", "a1"]),
        ({"format": "MP3"}, ["b3", "a3", "a1"]),
        ({"state": "available"}, ["b3", "b1", "a1"]),
        ({"masked": "true"}, ["a2"]),
        ({"masked": "false"}, ["b3", "b2", "b1", "a3", "a1"]),
        ({"duration_min": 61, "duration_max": 200}, ["b3", "b2", "a2"]),
        ({"started_from": "2026-03-11", "started_to": "2026-03-13"}, ["b1", "a3", "a2"]),
        ({"sort": "duration"}, ["b1", "a1", "b2", "a2", "b3", "a3"]),
        ({"sort": "-duration", "kind": "audian", "direction": "outbound"}, ["b3"]),
        ({"q": "4155550", "state": "available", "sort": "started"}, ["a1", "b1", "b3"]),
    ],
)
def test_it_filters_as_the_search_page_does(api, catalog, openapi, query, expected):
    response = api.get("/recordings", query)
    assert response.status_code == 200, response.content
    openapi.validate(response, LIST)
    assert names(response, catalog) == expected


def test_it_filters_by_account(api, catalog):
    response = api.get("/recordings", {"account": catalog["b1"].account_id})
    assert names(response, catalog) == ["b3", "b2", "b1"]


@pytest.mark.parametrize(
    "query",
    [
        {"state": "lost"},
        {"kind": "nosuchvendor"},
        {"limit": 0},
        {"limit": 101},
        {"duration_min": "long"},
        {"started_from": "2026-03-12", "started_to": "2026-03-11"},
        {"sort": "caller"},
        {"format": "../etc"},
    ],
)
def test_it_refuses_invalid_filters_with_422(api, catalog, openapi, query):
    response = api.get("/recordings", query)
    assert response.status_code == 422
    openapi.validate(response, LIST)


def test_cursor_pages_walk_every_recording_once(api, catalog, openapi):
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 4, "sort": "-duration", **({"cursor": cursor} if cursor else {})}
        response = api.get("/recordings", query)
        openapi.validate(response, LIST)
        seen += names(response, catalog)
        cursor, pages = response.json()["next"], pages + 1
        if cursor is None:
            break
    assert pages == 2
    assert seen == ["a3", "b3", "a2", "b2", "a1", "b1"]


def test_it_refuses_an_edited_cursor_or_one_of_another_sort(api, catalog, openapi):
    cursor = api.get("/recordings", {"limit": 2}).json()["next"]
    edited = api.get("/recordings", {"cursor": cursor[:-3] + "abc"})
    assert edited.status_code == 400
    openapi.validate(edited, LIST)
    other = api.get("/recordings", {"cursor": cursor, "sort": "duration"})
    assert other.status_code == 400
    assert "sort order" in other.json()["detail"]


def test_a_page_costs_a_bounded_number_of_queries(api, catalog, django_assert_max_num_queries):
    for account in VendorAccount.objects.all():
        for n in range(30):
            Recording.objects.create(account=account, external_id=f"more-{n}", started_at=DAY)
    # token, its last use, permissions, the page (+1 segment), the access event (tip + insert)
    with django_assert_max_num_queries(10):
        response = api.get("/recordings", {"limit": 50})
    assert len(response.json()["items"]) == 50


# --- detail ------------------------------------------------------------------------------


def test_it_shows_one_recording(api, catalog, openapi):
    recording = catalog["a2"]
    response = api.get(f"/recordings/{recording.pk}")
    assert response.status_code == 200
    openapi.validate(response, DETAIL)
    body = response.json()
    assert body["external_id"] == "ext-a2"
    assert body["masked"] is True
    assert body["state"] == "masked"
    assert body["participants"] == ["+14155550102", "+15550009999"]
    assert body["metadata"] == {"queue": "sales"}
    assert body["duration"] == 95


def test_it_answers_404_for_an_unknown_recording(api, db, openapi):
    response = api.get("/recordings/424242")
    assert response.status_code == 404
    openapi.validate(response, DETAIL)


def test_it_answers_422_for_a_recording_id_that_is_not_a_number(api, db, openapi):
    response = api.get("/recordings/abc")
    assert response.status_code == 422
    openapi.validate(response, DETAIL)


# --- media -------------------------------------------------------------------------------


def test_media_is_the_stored_file_byte_for_byte(api, stored_recording, openapi):
    recording = stored_recording(format="mp3", duration=3)
    detail = api.get(f"/recordings/{recording.pk}")
    openapi.validate(detail, DETAIL)
    assert detail.json()["media_url"] == f"/api/v1/recordings/{recording.pk}/media"
    assert detail.json()["playable"] is True

    response = api.get(f"/recordings/{recording.pk}/media")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == storage.read_bytes(recording.storage_key)
    assert len(body) == recording.size
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Content-Length"] == str(recording.size)
    assert response["Accept-Ranges"] == "bytes"


def test_media_answers_ranges(api, stored_recording):
    recording = stored_recording(format="wav", channels=1, duration=2)
    data = storage.read_bytes(recording.storage_key)
    response = api.get(f"/recordings/{recording.pk}/media", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == data[100:200]
    assert response["Content-Range"] == f"bytes 100-199/{len(data)}"
    beyond = api.get(f"/recordings/{recording.pk}/media", HTTP_RANGE=f"bytes={len(data)}-")
    assert beyond.status_code == 416


def test_media_of_a_recording_without_audio_is_404(api, catalog, openapi):
    response = api.get(f"/recordings/{catalog['a3'].pk}/media")  # discovered, not downloaded
    assert response.status_code == 404
    openapi.validate(response, MEDIA)
    assert response.json() == {"detail": "This recording has no stored audio."}
