import time
import warnings
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import jwt
import pytest

from recordings_portal.simulators.koreai import ACCOUNT_ID, BOT_ID, CLIENT_ID, CLIENT_SECRET
from recordings_portal.simulators.testing import running_simulators

RECORDINGS = f"/api/public/bot/{BOT_ID}/v2/recordings"
CALL_DETAILS = f"/agentassist/api/public/analytics/account/{ACCOUNT_ID}/v2/callDetails"
IN_PROGRESS = {"call_in_progress", "media_in_progress"}


def token(secret=CLIENT_SECRET, algorithm="HS256", **claims) -> str:
    claims = {"appId": CLIENT_ID, "sub": "portal", "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm)


@pytest.fixture
def koreai(simulators):
    with httpx.Client(base_url=f"{simulators.url}/koreai", headers={"auth": token()}) as client:
        yield client


def window(client, start: datetime, end: datetime, **paging) -> httpx.Response:
    body = {"startDate": start.isoformat(), "endDate": end.isoformat(), **paging}
    return client.post(CALL_DETAILS, json=body)


def all_sessions(client) -> list[dict]:
    """Every session of the last 35 days, in 7-day windows."""
    rows, end = [], datetime.now(UTC) + timedelta(hours=1)
    for _ in range(5):
        page = window(client, end - timedelta(days=7), end).json()
        assert not page["hasMore"]
        rows += page["data"]
        end -= timedelta(days=7)
    return rows


def fetch(client, session_id: str, **params) -> dict:
    response = client.get(RECORDINGS, params={"sessionId": session_id, **params})
    assert response.status_code == 200
    return response.json()


def statuses(client) -> dict[str, str]:
    return {
        row["sessionId"]: fetch(client, row["sessionId"])["status"] for row in all_sessions(client)
    }


def finished(client) -> list[dict]:
    """Sessions with media, shortest first."""
    rows = [
        row
        for row in all_sessions(client)
        if fetch(client, row["sessionId"])["status"] == "success"
    ]
    return sorted(rows, key=lambda row: row["duration"])


def test_it_seeds_every_documented_status(koreai):
    seen = statuses(koreai)
    assert len(seen) == 10  # the 8 recordings of the fixture and two calls of today
    assert set(seen.values()) == {
        "success",
        "media_unavailable",
        "call_in_progress",
        "media_in_progress",
    }


def test_it_serves_the_merged_wav_of_a_finished_session(koreai, tmp_path):
    for row in finished(koreai)[:2]:
        answer = fetch(koreai, row["sessionId"])
        [recording] = answer["recording"]
        assert recording["fileName"] == f"{row['sessionId']}-merged.wav"
        expiry = parse_qs(urlsplit(recording["fileUrl"]).query)
        assert set(expiry) == {"e", "n", "s"}
        assert abs(int(expiry["e"][0]) - time.time() - 3600) < 5
        media = httpx.get(recording["fileUrl"])  # a signed link: no auth header
        assert media.status_code == 200
        assert media.headers["content-type"] == "audio/wav"
        path = tmp_path / "merged.wav"
        path.write_bytes(media.content)
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            assert container.format.name == "wav"
            assert stream.channels == 2
            assert abs(float(stream.duration * stream.time_base) - row["duration"]) < 0.1


def test_it_accepts_the_request_with_or_without_a_user_id(koreai):
    row = finished(koreai)[0]
    assert fetch(koreai, row["sessionId"])["status"] == "success"
    assert fetch(koreai, row["sessionId"], userId=row["userId"])["status"] == "success"
    assert fetch(koreai, row["sessionId"], userId="u-someone-else")["status"] == "media_unavailable"
    assert fetch(koreai, "0" * 32) == {"status": "media_unavailable"}


def test_it_requires_a_session_id(koreai):
    response = koreai.get(RECORDINGS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 400


def test_it_answers_404_for_an_unknown_bot_or_account(koreai):
    unknown_bot = koreai.get("/api/public/bot/st-unknown/v2/recordings", params={"sessionId": "x"})
    assert unknown_bot.status_code == 404
    path = "/agentassist/api/public/analytics/account/000000000000000000000000/v2/callDetails"
    now = datetime.now(UTC)
    body = {"startDate": (now - timedelta(days=1)).isoformat(), "endDate": now.isoformat()}
    assert koreai.post(path, json=body).status_code == 404


with warnings.catch_warnings():
    warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # HS512 wants 64 bytes
    HS512_TOKEN = token(algorithm="HS512")

BAD_TOKENS = {
    "missing": None,
    "garbage": "not-a-jwt",
    "wrong secret": token(secret="another-secret-of-at-least-32-bytes!"),
    "wrong appId": token(appId="cs-00000000-0000-0000-0000-000000000000"),
    "no appId": token(appId=None),
    "expired": token(exp=int(time.time()) - 30),
    "HS512": HS512_TOKEN,
    "unsigned": jwt.encode({"appId": CLIENT_ID}, None, algorithm="none"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
@pytest.mark.parametrize("endpoint", ["recordings", "callDetails"])
def test_it_refuses_a_bad_jwt(simulators, case, endpoint):
    headers = {} if BAD_TOKENS[case] is None else {"auth": BAD_TOKENS[case]}
    with httpx.Client(base_url=f"{simulators.url}/koreai", headers=headers) as client:
        if endpoint == "recordings":
            response = client.get(RECORDINGS, params={"sessionId": "0" * 32})
        else:
            response = window(client, datetime.now(UTC) - timedelta(days=1), datetime.now(UTC))
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == 401


def test_a_fresh_jwt_stays_good_when_the_simulated_clock_moves(koreai, simulator_control):
    # Tokens are minted from the client's clock: exp is checked against wall time.
    simulator_control.advance_clock(86400)
    assert koreai.get(RECORDINGS, params={"sessionId": "0" * 32}).status_code == 200


def test_sessions_reach_success_as_the_clock_advances(koreai, simulator_control):
    live = [sid for sid, status in statuses(koreai).items() if status in IN_PROGRESS]
    assert len(live) == 2
    simulator_control.advance_clock(3600)
    assert {fetch(koreai, sid)["status"] for sid in live} == {"success"}
    rows = {row["sessionId"]: row for row in all_sessions(koreai)}
    assert all(rows[sid]["endTime"] and rows[sid]["duration"] for sid in live)


def test_the_advance_knob_finishes_one_session_or_all(koreai, simulator_control):
    seen = statuses(koreai)
    on_call = next(sid for sid, status in seen.items() if status == "call_in_progress")
    generating = next(sid for sid, status in seen.items() if status == "media_in_progress")
    assert next(r for r in all_sessions(koreai) if r["sessionId"] == on_call)["endTime"] is None

    answer = simulator_control.knob("koreai", "advance", sessionId=on_call)
    assert answer.json() == {"advanced": [on_call]}
    assert fetch(koreai, on_call)["status"] == "success"
    assert fetch(koreai, generating)["status"] == "media_in_progress"
    row = next(r for r in all_sessions(koreai) if r["sessionId"] == on_call)
    ended = datetime.fromisoformat(row["endTime"]) - datetime.fromisoformat(row["startTime"])
    assert ended.total_seconds() == row["duration"]

    assert simulator_control.knob("koreai", "advance").json() == {"advanced": [generating]}
    assert fetch(koreai, generating)["status"] == "success"
    assert simulator_control.knob("koreai", "advance", sessionId="nope").status_code == 404


def test_the_file_url_expires(koreai, simulator_control):
    url = fetch(koreai, finished(koreai)[0]["sessionId"])["recording"][0]["fileUrl"]
    assert httpx.get(url).status_code == 200
    tampered = url.replace("&n=", "&n=0")
    assert httpx.get(tampered).status_code == 403
    simulator_control.advance_clock(3601)
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert expired.json()["errors"][0]["msg"] == "Link expired"


def test_it_hands_out_expired_links_under_the_expire_links_fault(koreai, simulator_control):
    session_id = finished(koreai)[0]["sessionId"]
    simulator_control.faults("koreai", expire_links=True)
    url = fetch(koreai, session_id)["recording"][0]["fileUrl"]
    assert httpx.get(url).status_code == 403


def test_delete_removes_a_sessions_recordings(koreai):
    seen = statuses(koreai)
    session_id = finished(koreai)[0]["sessionId"]
    url = fetch(koreai, session_id)["recording"][0]["fileUrl"]
    deleted = koreai.delete(RECORDINGS, params={"sessionId": session_id})
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "deleted", "sessionId": session_id}
    assert fetch(koreai, session_id) == {"status": "media_unavailable"}
    assert httpx.get(url).status_code == 404
    again = koreai.delete(RECORDINGS, params={"sessionId": session_id})
    assert again.status_code == 404
    on_call = next(sid for sid, status in seen.items() if status == "call_in_progress")
    busy = koreai.delete(RECORDINGS, params={"sessionId": on_call})
    assert busy.status_code == 409
    assert busy.json() == {"status": "call_in_progress"}


def test_call_details_pages_with_limit_and_offset(koreai):
    end = datetime.now(UTC) + timedelta(hours=1)
    start = end - timedelta(days=7)
    everything = window(koreai, start, end).json()
    assert everything["total"] == len(everything["data"]) >= 3
    pages, offset = [], 0
    while True:
        page = window(koreai, start, end, limit=2, offset=offset).json()
        assert page["total"] == everything["total"]
        pages += page["data"]
        if not page["hasMore"]:
            break
        offset += 1
    assert pages == everything["data"]
    row = pages[0]
    assert set(row) == {
        "sessionId",
        "userId",
        "direction",
        "caller",
        "callee",
        "startTime",
        "endTime",
        "duration",
    }
    starts = [datetime.fromisoformat(r["startTime"]) for r in pages]
    assert starts == sorted(starts) and all(start <= s < end for s in starts)


def test_call_details_take_plain_dates_up_to_seven_days(koreai):
    today = datetime.now(UTC).date()
    week = {"startDate": str(today - timedelta(days=6)), "endDate": str(today)}
    response = koreai.post(CALL_DETAILS, json=week)
    assert response.status_code == 200
    assert any(row["endTime"] is None for row in response.json()["data"])  # a call of today
    eight_days = {"startDate": str(today - timedelta(days=7)), "endDate": str(today)}
    assert koreai.post(CALL_DETAILS, json=eight_days).status_code == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-01-08T00:00:01Z"}, "7 days"),
        ({"startDate": None}, "required"),
        ({"startDate": "yesterday", "endDate": "2026-01-02"}, "required"),
        ({"startDate": "2026-01-05", "endDate": "2026-01-02"}, "after"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": 11}, "offset"),
        ({"offset": -1}, "offset"),
    ],
)
def test_call_details_reject_bad_queries_clearly(koreai, body, message):
    query = {"startDate": "2026-01-01", "endDate": "2026-01-03", **body}
    query = {key: value for key, value in query.items() if value is not None}
    response = koreai.post(CALL_DETAILS, json=query)
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["msg"]


def test_a_busy_window_yields_at_most_1100_rows_so_clients_must_narrow_it():
    with running_simulators(seed=3, recordings=6000, vendors=["koreai"]) as server:
        client = httpx.Client(base_url=f"{server.url}/koreai", headers={"auth": token()})
        end = datetime.now(UTC) - timedelta(hours=2)
        start = end - timedelta(days=7)
        seen = []
        for offset in range(11):
            page = window(client, start, end, limit=100, offset=offset).json()
            seen += [row["sessionId"] for row in page["data"]]
        total = page["total"]
        assert len(seen) == 1100 < total
        assert page["hasMore"]
        assert window(client, start, end, limit=100, offset=11).status_code == 400

        middle = start + (end - start) / 2
        narrowed = []
        for lo, hi in [(start, middle), (middle, end)]:
            offset = 0
            while True:
                page = window(client, lo, hi, limit=100, offset=offset).json()
                narrowed += [row["sessionId"] for row in page["data"]]
                if not page["hasMore"]:
                    break
                offset += 1
        assert len(narrowed) == len(set(narrowed)) == total
        assert set(seen) <= set(narrowed)
