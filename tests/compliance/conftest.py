from types import SimpleNamespace

import pytest

from recordings_portal.audit.models import AccessEvent


@pytest.fixture
def people(make_user):
    """A supervisor, two compliance officers (four eyes need two), an admin, an auditor."""
    return SimpleNamespace(
        supervisor=make_user("sue", "supervisor"),
        alice=make_user("alice", "compliance"),
        bob=make_user("bob", "compliance"),
        admin=make_user("ada", "admin"),
        auditor=make_user("otto", "auditor"),
    )


@pytest.fixture
def fast_retries(settings):
    settings.RETRY_BASE_SECONDS = 0.05
    settings.RETRY_CAP_SECONDS = 0.2


@pytest.fixture
def audian(vendor_account, simulators, stored_recording):
    """stored(**fields) -> a stored recording of an Audian account that Audian itself has."""
    account = vendor_account("audian")
    sim = simulators.vendors["audian"]
    ids = iter(
        sorted(rid for rid, rec in sim.recordings_by_id.items() if rec.status == "completed")
    )

    def stored(**fields):
        return stored_recording(account=account, external_id=next(ids), **fields)

    stored.account, stored.sim = account, sim
    return stored


@pytest.fixture
def koreai(vendor_account, simulators, stored_recording):
    account = vendor_account("koreai")
    sim = simulators.vendors["koreai"]
    now = sim.clock.now()
    sessions = iter([s for s in sim.sessions.values() if s.status(now) == "success"])

    def stored(**fields):
        session = next(sessions)
        recording = stored_recording(
            account=account,
            external_id=session.session_id,
            metadata={"userId": session.user_id},
            **fields,
        )
        recording.session = session
        return recording

    stored.account, stored.sim = account, sim
    return stored


@pytest.fixture
def flyflow(stored_recording):
    """A stored recording of a Flyflow account (no delete API): no simulator needed."""
    return stored_recording


def events(action: str) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(action=action).order_by("id"))
