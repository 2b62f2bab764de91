import httpx
import pytest

from recordings_portal.simulators.audian import API_KEY


@pytest.fixture
def sim(simulators):
    """The Audian simulator's state, for what a test arranges behind its API."""
    return simulators.vendors["audian"]


@pytest.fixture
def audian_api(simulators):
    """The simulator's own API, for what happens at Audian (calls, deletions)."""
    headers = {"X-Auth-Token": API_KEY}
    with httpx.Client(base_url=f"{simulators.url}/audian/v2", headers=headers) as client:
        yield client
