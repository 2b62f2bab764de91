"""The actions the access log knows: refusals recorded, and every recorded action offered."""

import ast
from pathlib import Path

from django.urls import reverse

from recordings_portal.audit.forms import KNOWN_ACTIONS
from recordings_portal.audit.models import AccessEvent
from recordings_portal.compliance.services.vendor import EVENTS

PACKAGE = Path(__file__).resolve().parents[2] / "recordings_portal"


def recorded_actions() -> set[str]:
    """Every action name passed as a literal to record(...) in the portal's code."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if "simulators" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            first = node.args[0]
            if name == "record" and isinstance(first, ast.Constant):
                found.add(first.value)
    return found


def test_the_auditors_action_suggestions_name_every_action_the_portal_records():
    actions = recorded_actions() | set(EVENTS.values()) | {"access.denied"}
    assert len(actions) > 30  # the scan found the calls
    assert actions - set(KNOWN_ACTIONS) == set()
    assert set(KNOWN_ACTIONS) - actions == set()  # and offers none that nothing records


def test_a_page_refused_to_a_signed_in_user_is_recorded(client_for, users):
    url = reverse("catalog:search")
    assert client_for("auditor").get(url + "?q=4155").status_code == 403
    event = AccessEvent.objects.get(action="access.denied")
    assert event.outcome == "denied"
    assert event.actor_username == users["auditor"].username
    assert event.object_type == "url" and event.object_id == url
    assert event.details == {"method": "GET", "view": "catalog:search"}


def test_a_refused_action_is_recorded_with_its_method_and_changes_nothing(client_for, users):
    from tests.role_matrix.compliance import a_recording

    recording = a_recording()
    url = reverse("compliance:hold", kwargs={"pk": recording.pk})
    refused = client_for("supervisor").post(url, {"reason": "litigation"})
    assert refused.status_code == 403
    event = AccessEvent.objects.get(action="access.denied")
    assert event.details == {"method": "POST", "view": "compliance:hold"}
    recording.refresh_from_db()
    assert not recording.legal_hold
    assert not AccessEvent.objects.filter(action="hold.set").exists()


def test_anonymous_requests_are_sent_to_sign_in_and_not_recorded(client, db):
    assert client.get(reverse("catalog:search")).status_code == 302
    assert not AccessEvent.objects.filter(action="access.denied").exists()
