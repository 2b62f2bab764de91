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


def test_verify_notices_reordered_ids(five_events):
    first, second = five_events[1], five_events[2]
    raw("UPDATE audit_accessevent SET id = -1 WHERE id = %s", [first.id])
    raw("UPDATE audit_accessevent SET id = %s WHERE id = %s", [first.id, second.id])
    raw("UPDATE audit_accessevent SET id = %s WHERE id = -1", [second.id])
    result = verify()
    assert (result.intact, result.broken_id) == (False, first.id)
    assert "reordered" in result.reason


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite reuses a rolled-back id: no gap to fill"
)
def test_verify_notices_an_event_forged_into_a_gap(db, make_user):
    # A rolled-back append leaves a gap in the ids; a forger fills it with a well-formed event
    # linked to the one before. The event after it still names the real predecessor.
    user = make_user("sam", "supervisor")
    before = record("recording.play", actor=user, object_type="catalog.recording", object_id=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record("recording.play", actor=user, object_type="catalog.recording", object_id=2)
        raise RuntimeError("rolled back")
    after = record("recording.play", actor=user, object_type="catalog.recording", object_id=3)
    gap = after.id - 1
    assert gap > before.id
    from recordings_portal.audit.log import canonical_content, chain_hash

    forged = AccessEvent(
        at=before.at,
        actor=user,
        actor_username="sam",
        action="recording.download",
        object_type="catalog.recording",
        object_id="1",
        prev_hash=before.hash,
    )
    forged.hash = chain_hash(forged.prev_hash, canonical_content(forged))
    raw(
        "INSERT INTO audit_accessevent (id, at, actor_id, actor_username, action, object_type, "
        "object_id, outcome, ip, user_agent, details, prev_hash, hash) "
        "VALUES (%s, %s, %s, 'sam', 'recording.download', 'catalog.recording', '1', "
        "'success', NULL, '', '{}', %s, %s)",
        [gap, forged.at, user.id, forged.prev_hash, forged.hash],
    )
    assert verify().intact is False
    assert verify().broken_id == after.id


def test_verify_checks_what_there_was_when_it_started(five_events, monkeypatch):
    # Appends during a verification are left for the next one, so "through #N" is a fixed point.
    from recordings_portal.audit import log

    original = log.chain_rows

    def appending(*args, **kwargs):
        for n, row in enumerate(original(*args, **kwargs)):
            if n == 0:
                record("recording.search", details={"q": "meanwhile"})
            yield row

    monkeypatch.setattr(log, "chain_rows", appending)
    result = log.verify(batch_size=2)
    assert (result.intact, result.checked, result.last_good_id) == (True, 5, five_events[-1].id)


def test_verify_reads_the_chain_in_batches(db):
    from tests.audit.conftest import append_chain

    append_chain(23)
    result = verify(batch_size=5)
    assert (result.intact, result.checked) == (True, 23)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_append_is_on_disk_when_record_returns(monkeypatch):
    # The append commits without waiting for the disk (so the chain's lock is not held through
    # an fsync), then record() waits for the WAL to be flushed past it before returning.
    from recordings_portal.audit import log

    flushed = []
    wait = log._wait_until_durable

    def checked_wait():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()")  # past the append's commit
            target = cursor.fetchone()[0]
        wait()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [target])
            flushed.append(cursor.fetchone()[0])

    monkeypatch.setattr(log, "_wait_until_durable", checked_wait)
    record("recording.play", object_type="catalog.recording", object_id=1)
    assert flushed == [True]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")  # set for the append's transaction only
        assert cursor.fetchone()[0] == "on"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_commit_stays_the_callers(monkeypatch):
    from recordings_portal.audit import log

    waits = []
    monkeypatch.setattr(log, "_wait_until_durable", lambda: waits.append(1))
    with transaction.atomic():
        record("recording.play", object_type="catalog.recording", object_id=1)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    assert waits == []
    assert verify().intact


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "::1", "2001:DB8::1", "2001:db8:0:0:1:0:0:1", "::ffff:1.2.3.4", "fe80::1%eth0"],
)
def test_a_client_address_reads_back_as_it_was_hashed(db, rf, address):
    # A dual-stack server sees IPv4 clients as ::ffff:a.b.c.d; Python and the database write
    # that differently, which once made the chain look edited.
    event = record("auth.login", request=rf.get("/", REMOTE_ADDR=address))
    assert AccessEvent.objects.get(pk=event.pk).ip == event.ip
    assert verify().intact


def test_canonical_json_is_json_dumps_with_sorted_keys_and_no_spaces():
    import json

    from recordings_portal.audit.log import canonical_json

    for value in [{}, {"b": 1, "a": [1.5, None, True]}, {"é": "日本", "x": {"z": 0, "y": -1e-7}}]:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical_json(value) == expected.encode()


def test_verify_agrees_with_the_hashes_for_awkward_values(db):
    # Whole seconds (no microseconds), Unicode, floats, nesting: what the database hands back
    # must hash as it did when it was appended.
    from datetime import UTC, datetime

    from tests.audit.conftest import append_chain

    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    append_chain(
        3, start=start, details={"q": "Zoë 日本 \u2028", "f": 0.1, "n": {"b": [], "a": {}}}
    )
    record("recording.search", details={"q": "x" * 5000, "big": 2**62, "neg": -0.5})
    assert verify().intact


@postgres_only
def test_verify_notices_a_changed_netmask(db, rf):
    event = record("auth.login", request=rf.get("/", REMOTE_ADDR="10.1.2.3"))
    raw("UPDATE audit_accessevent SET ip = '10.1.2.3/8' WHERE id = %s", [event.id])
    assert verify().broken_id == event.id


@postgres_only
def test_verify_walks_windows_across_gaps_in_the_ids(five_events):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audit_accessevent', 'id'), %s)",
            [five_events[-1].id + 1000],
        )
    later = record("recording.play", object_type="catalog.recording", object_id=9)
    result = verify(batch_size=7)
    assert (result.intact, result.checked, result.last_good_id) == (True, 6, later.id)


@postgres_only
def test_a_verification_that_stops_early_hands_the_connection_back(five_events):
    raw("UPDATE audit_accessevent SET action = 'x' WHERE id = %s", [five_events[0].id])
    assert verify(batch_size=1).broken_id == five_events[0].id
    assert not connection.allow_thread_sharing
    assert AccessEvent.objects.count() == 5


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_append_refuses_a_snapshot_older_than_the_chains_lock():
    # Under REPEATABLE READ the tip would be read from a snapshot taken before the lock was
    # held, and two appends could link to the same event: the database refuses instead.
    with pytest.raises(DatabaseError, match="READ COMMITTED"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        record("recording.play", object_type="catalog.recording", object_id=1)
    assert not AccessEvent.objects.exists()
