import av
import httpx
import pytest

from recordings_portal.simulators.flyflow import API_KEY, FIRST_ID


@pytest.fixture
def flyflow(simulators):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=f"{simulators.url}/flyflow/v1", headers=headers) as client:
        yield client


def test_it_lists_calls_page_by_page_with_a_cursor(flyflow):
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = flyflow.get("/calls", params=params).json()
        seen += [row["id"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(FIRST_ID, FIRST_ID + 8))


def test_it_serves_a_real_mp3_of_the_reported_duration(flyflow, tmp_path):
    row = flyflow.get("/calls", params={"limit": 1}).json()["data"][0]
    response = flyflow.get(f"/call/recording/{row['id']}.mp3")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    path = tmp_path / "call.mp3"
    path.write_bytes(response.content)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert container.format.name == "mp3"
        assert abs(float(stream.duration * stream.time_base) - row["duration"]) < 0.1


@pytest.mark.parametrize(
    ("path", "status"),
    [("/call/recording/abc.mp3", 400), ("/call/recording/99999.mp3", 404)],
)
def test_it_answers_the_documented_errors(flyflow, path, status):
    response = flyflow.get(path)
    assert response.status_code == status
    if status == 404:
        assert response.json() == {"error": "Not Found", "message": "Recording not found"}


def test_it_refuses_a_wrong_api_key(simulators):
    response = httpx.get(
        f"{simulators.url}/flyflow/v1/call/recording/{FIRST_ID}.mp3",
        headers={"Authorization": "Bearer nope"},
    )
    assert response.status_code == 401


def test_injected_500s_come_before_the_real_answer(flyflow, simulator_control):
    simulator_control.faults("flyflow", fail_next=2)
    statuses = [flyflow.get("/calls").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_rate_limit_carries_retry_after(flyflow, simulator_control):
    simulator_control.faults("flyflow", rate_limit_next=1, retry_after=7)
    response = flyflow.get("/calls")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize("fault", ["drop_next", "truncate_next"])
def test_a_broken_body_fails_the_download_not_silently(flyflow, simulator_control, fault):
    simulator_control.faults("flyflow", **{fault: 1})
    with pytest.raises(httpx.TransportError):
        flyflow.get(f"/call/recording/{FIRST_ID}.mp3")
    assert flyflow.get(f"/call/recording/{FIRST_ID}.mp3").status_code == 200
