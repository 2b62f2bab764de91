from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from recordings_portal.audit.log import canonical_content, chain_hash
from recordings_portal.audit.models import GENESIS_HASH, AccessEvent

HTMX = {"HTTP_HX_REQUEST": "true"}


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


def append_chain(count: int, *, start=None, step=timedelta(seconds=1), batch=5000, **fields):
    """Append `count` chained events fast (bulk inserts, hashes computed here as record() does).

    For volumes record() would take minutes to write; the chain is the same one record()
    builds, which verify() confirms in the tests that use it.
    """
    last = AccessEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    prev = last or GENESIS_HASH
    at = start or timezone.now() - step * count
    values = {"action": "recording.play", "object_type": "catalog.recording", **fields}
    made = 0
    while made < count:
        rows = []
        for n in range(made, min(count, made + batch)):
            event = AccessEvent(at=at + step * n, object_id=str(n % 997), **values)
            event.actor_username = event.actor.get_username() if event.actor else ""
            event.prev_hash = prev
            event.hash = prev = chain_hash(prev, canonical_content(event))
            rows.append(event)
        AccessEvent.objects.bulk_create(rows)
        made += len(rows)


@pytest.fixture
def auditor(client_for):
    return client_for("auditor")
