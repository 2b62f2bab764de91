import csv
import io
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import pytest

from recordings_portal.simulators.kaleyra import API_KEY, SID

IST = timezone(timedelta(hours=5, minutes=30))
SIX_MONTHS = timedelta(days=183)


@pytest.fixture
def kaleyra(simulators):
    headers = {"api-key": API_KEY}
    with httpx.Client(base_url=f"{simulators.url}/kaleyra/v1/{SID}", headers=headers) as client:
        yield client


def report(client) -> list[dict]:
    response = client.get("/voice/recordings/report.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def started(row) -> datetime:
    return datetime.strptime(row["Start Time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)


def recent_ids(client) -> list[str]:
    now = datetime.now(IST)
    return [row["ID"] for row in report(client) if row["ID"] and now - started(row) < SIX_MONTHS]


def extract(client, rec_id: str, **fields) -> httpx.Response:
    return client.post("/voice/recordings", data={"id": rec_id, **fields})


def link_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "RBC3XXX"
    assert body["message"] == "Request successfully executed!"
    assert body["error"] == {}
    return body["data"]["link"]


def documented_failure(message: str, error: str, rec_id: str, validity="5", download="0") -> str:
    return (
        "{\n"
        '"code": "RBC31XX",\n'
        f'"message": "{message}",\n'
        '"data": [\n'
        f'"id" : "{rec_id}",\n'
        f'"validity" : "{validity}",\n'
        f'"download" : "{download}"\n'
        "],\n"
        '"error": {\n'
        f'"id": "{error}"\n'
        "}\n"
        "}"
    )


def test_it_exports_a_report_of_every_call_with_the_recording_ids(kaleyra):
    rows = report(kaleyra)
    assert list(rows[0]) == [
        "ID",
        "Call ID",
        "From",
        "To",
        "Start Time",
        "Duration",
        "Direction",
        "Status",
    ]
    answered = [row for row in rows if row["Status"] == "Answered"]
    missed = [row for row in rows if row["Status"] != "Answered"]
    # 8 recent recordings, 3 past the 6-month limit, and calls that were never answered.
    assert len(answered) == 11
    assert missed and all(row["ID"] == "" and row["Duration"] == "0" for row in missed)
    assert len({row["ID"] for row in answered}) == 11
    assert all(row["ID"].endswith("==") for row in answered)
    assert sum(datetime.now(IST) - started(row) > SIX_MONTHS for row in answered) == 3
    starts = [started(row) for row in rows]
    assert starts == sorted(starts, reverse=True)
    assert {row["Direction"] for row in answered} <= {"Inbound", "Outbound"}


def test_it_hands_out_ids_that_need_url_encoding(kaleyra):
    ids = recent_ids(kaleyra)
    assert any("+" in rec_id for rec_id in ids)
    assert any("/" in rec_id for rec_id in ids)
    raw = next(rec_id for rec_id in ids if "+" in rec_id)
    # Sent unencoded, the + decodes to a space and the id is another one.
    response = kaleyra.post(
        "/voice/recordings",
        content=f"id={raw}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.text == documented_failure("Invalid Id", "Invalid id", raw.replace("+", " "))
    assert extract(kaleyra, raw).status_code == 200


def test_it_serves_every_reported_recording_as_decodable_audio(kaleyra, tmp_path):
    rows = {row["ID"]: row for row in report(kaleyra)}
    formats = set()
    for rec_id in recent_ids(kaleyra):
        media = httpx.get(link_of(extract(kaleyra, rec_id)))
        assert media.status_code == 200
        path = tmp_path / "recording"
        path.write_bytes(media.content)
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            formats.add((container.format.name, media.headers["content-type"]))
            assert stream.channels == 1
            duration = float(stream.duration * stream.time_base)
            assert abs(duration - int(rows[rec_id]["Duration"])) < 0.1
    assert formats <= {("mp3", "audio/mpeg"), ("wav", "audio/wav")}
    assert ("mp3", "audio/mpeg") in formats


def test_it_reads_the_id_from_the_form_or_the_query_string(kaleyra):
    rec_id = recent_ids(kaleyra)[0]
    assert kaleyra.post("/voice/recordings", params={"id": rec_id}).status_code == 200
    # Both given, as in the document's curl: the form wins.
    both = kaleyra.post("/voice/recordings", params={"id": "bogus=="}, data={"id": rec_id})
    assert both.status_code == 200
    both = kaleyra.post("/voice/recordings", params={"id": rec_id}, data={"id": "bogus=="})
    assert both.text == documented_failure("Invalid Id", "Invalid id", "bogus==")


def test_it_also_answers_get_as_the_documents_heading_says(kaleyra):
    rec_id = recent_ids(kaleyra)[0]
    response = kaleyra.get("/voice/recordings", params={"id": rec_id, "validity": "10"})
    assert "X-Amz-Expires=600" in link_of(response)


def test_it_answers_an_unknown_id_with_the_documented_body_byte_exact(kaleyra):
    response = extract(kaleyra, "abcd1234==", validity="10", download="1")
    assert response.status_code == 400
    assert response.text == documented_failure(
        "Invalid Id", "Invalid id", "abcd1234==", validity="10", download="1"
    )
    with pytest.raises(json.JSONDecodeError):
        response.json()  # the documented body is not JSON, and clients must cope
    missing = kaleyra.post("/voice/recordings")
    assert missing.text == documented_failure("Invalid Id", "Invalid id", "")


def test_it_answers_id_expired_for_recordings_older_than_six_months(kaleyra):
    old = [
        row["ID"] for row in report(kaleyra) if row["ID"] and row["ID"] not in recent_ids(kaleyra)
    ]
    assert len(old) == 3
    for rec_id in old:
        response = extract(kaleyra, rec_id)
        assert response.status_code == 400
        assert response.text == documented_failure("Id Expired", "Id Expired", rec_id)


def test_it_ages_recordings_past_six_months_as_the_clock_advances(kaleyra, simulator_control):
    rec_id = recent_ids(kaleyra)[0]
    assert extract(kaleyra, rec_id).status_code == 200
    simulator_control.advance_clock(200 * 86400)
    assert extract(kaleyra, rec_id).text == documented_failure("Id Expired", "Id Expired", rec_id)


def test_it_redirects_with_301_when_download_is_1(kaleyra):
    rec_id = recent_ids(kaleyra)[0]
    response = extract(kaleyra, rec_id, download="1")
    assert response.status_code == 301
    media = httpx.get(response.headers["location"])
    assert media.status_code == 200
    assert media.headers["content-type"].startswith("audio/")


def test_the_link_lives_for_the_requested_validity(kaleyra, simulator_control):
    rec_id = recent_ids(kaleyra)[0]
    default = link_of(extract(kaleyra, rec_id))
    short = link_of(extract(kaleyra, rec_id, validity="1"))
    assert parse_qs(urlsplit(default).query)["X-Amz-Expires"] == ["300"]
    simulator_control.advance_clock(50)
    assert httpx.get(short).status_code == 200
    simulator_control.advance_clock(15)
    expired = httpx.get(short)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.text
    assert httpx.get(default).status_code == 200
    simulator_control.advance_clock(240)
    assert httpx.get(default).status_code == 403


def test_it_refuses_a_tampered_or_unsigned_link(kaleyra):
    ids = recent_ids(kaleyra)
    link = link_of(extract(kaleyra, ids[0]))
    other = link_of(extract(kaleyra, ids[1]))
    tampered = link[:-1] + ("0" if link[-1] != "0" else "1")
    assert "<Code>SignatureDoesNotMatch</Code>" in httpx.get(tampered).text
    swapped = other.split("?")[0] + "?" + link.split("?")[1]
    assert httpx.get(swapped).status_code == 403
    unsigned = httpx.get(link.split("?")[0])
    assert unsigned.status_code == 403
    assert "<Code>AccessDenied</Code>" in unsigned.text


def test_it_hands_out_expired_links_under_the_expire_links_fault(kaleyra, simulator_control):
    simulator_control.faults("kaleyra", expire_links=True)
    link = link_of(extract(kaleyra, recent_ids(kaleyra)[0], validity="60"))
    assert httpx.get(link).status_code == 403


@pytest.mark.parametrize("headers", [{}, {"api-key": "Awrong0000000000000000000000000000"}])
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/voice/recordings"), ("GET", "/voice/recordings/report.csv")]
)
def test_it_refuses_a_wrong_or_missing_api_key(simulators, headers, method, path):
    url = f"{simulators.url}/kaleyra/v1/{SID}{path}"
    response = httpx.request(method, url, headers=headers, data={"id": "abcd1234=="})
    assert response.status_code == 401
    body = response.json()
    assert body["message"] == "Unauthorized"
    assert set(body) == {"code", "message", "data", "error"}


@pytest.mark.parametrize("sid", ["{}" + SID, "HXIN0000000000IN"])
def test_it_answers_404_for_the_documents_typo_path_and_unknown_sids(simulators, sid):
    response = httpx.post(
        f"{simulators.url}/kaleyra/v1/{sid}/voice/recordings",
        headers={"api-key": API_KEY},
        data={"id": "abcd1234=="},
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"


@pytest.mark.parametrize(
    "fields", [{"validity": "0"}, {"validity": "ten"}, {"validity": "10081"}, {"download": "2"}]
)
def test_it_rejects_a_bad_validity_or_download_flag(kaleyra, fields):
    response = extract(kaleyra, recent_ids(kaleyra)[0], **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "RBC31XX"
    assert list(body["error"]) == list(fields)
