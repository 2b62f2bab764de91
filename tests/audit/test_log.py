import itertools
import threading
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection, connections, transaction

from recordings_portal.audit.log import record, verify
from recordings_portal.audit.models import GENESIS_HASH, AccessEvent

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL"
)


@contextmanager
def triggers_disabled():
    """Tampering as a database superuser would: bypass the append-only trigger."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_accessevent DISABLE TRIGGER USER")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE audit_accessevent ENABLE TRIGGER USER")
    else:
        yield


def raw(sql, params=()):
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def five_events(db, make_user):
    user = make_user("sam", "supervisor")
    return [
        record("recording.play", actor=user, object_type="catalog.recording", object_id=n)
        for n in range(5)
    ]


def test_appending_links_each_event_to_the_one_before(five_events):
    assert five_events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(five_events):
        assert after.prev_hash == before.hash
    assert len({event.hash for event in five_events}) == 5


def test_verify_passes_on_an_intact_log(five_events):
    result = verify()
    assert result.intact
    assert result.checked == 5
    assert result.last_good_id == five_events[-1].id
    assert "Intact" in str(result)


def test_verify_names_the_first_edited_event(five_events):
    target = five_events[2]
    raw("UPDATE audit_accessevent SET object_id = '99' WHERE id = %s", [target.id])
    result = verify()
    assert not result.intact
    assert result.broken_id == target.id
    assert result.last_good_id == five_events[1].id
    assert "edited" in result.reason


def test_verify_notices_a_deleted_event(five_events):
    raw("DELETE FROM audit_accessevent WHERE id = %s", [five_events[1].id])
    result = verify()
    assert (result.intact, result.broken_id) == (False, five_events[2].id)
    assert "deleted" in result.reason


def test_verify_notices_a_forged_event_even_with_a_consistent_hash(five_events):
    # A forger who recomputes the forged event's own hash still breaks the next link.
    forged = AccessEvent(
        **{
            field.name: getattr(five_events[2], field.name)
            for field in AccessEvent._meta.concrete_fields
            if field.name != "id"
        }
    )
    from recordings_portal.audit.log import canonical_content, chain_hash

    forged.object_id = "forged"
    forged.hash = chain_hash(forged.prev_hash, canonical_content(forged))
    raw(
        "UPDATE audit_accessevent SET object_id = %s, hash = %s WHERE id = %s",
        [forged.object_id, forged.hash, five_events[2].id],
    )
    result = verify()
    assert (result.intact, result.broken_id) == (False, five_events[3].id)


def test_the_application_refuses_to_update_or_delete_events(five_events):
    event = five_events[0]
    with pytest.raises(RuntimeError, match="append-only"):
        event.save()
    with pytest.raises(RuntimeError, match="append-only"):
        event.delete()


@postgres_only
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_accessevent SET action = 'nothing' WHERE id = %s",
        "DELETE FROM audit_accessevent WHERE id = %s",
    ],
)
def test_the_database_refuses_update_and_delete(five_events, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [five_events[0].id])
    assert AccessEvent.objects.count() == 5


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    errors = []

    def write(worker):
        try:
            for n in range(25):
                record("recording.search", object_type="worker", object_id=f"{worker}-{n}")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AccessEvent.objects.count() == 100
    assert verify().intact
