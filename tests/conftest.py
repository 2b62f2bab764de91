import pytest

from recordings_portal.simulators.testing import SimulatorControl, running_simulators


@pytest.fixture(scope="session")
def simulator_server(tmp_path_factory):
    """All five vendor simulators on a free loopback port for the whole test session.

    Audio is cached in data/test-audio so later runs skip the encoding.
    """
    with running_simulators(seed=7, recordings=8) as server:
        yield server


@pytest.fixture
def simulators(simulator_server):
    """The running simulators, with every vendor's state, faults and clock fresh for each test."""
    simulator_server.clock.offset = 0.0
    for vendor in simulator_server.vendors.values():
        with vendor.lock:
            vendor.faults.reset()
            vendor.reset()
    yield simulator_server


@pytest.fixture
def simulator_control(simulators):
    return SimulatorControl(simulators.url)
