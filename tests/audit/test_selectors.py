from datetime import timedelta

import pytest
from django.utils import timezone

from recordings_portal.audit.log import record
from recordings_portal.audit.models import AccessEvent, Outcome
from recordings_portal.audit.selectors import (
    Filters,
    events,
    page,
    what_accessed,
    who_accessed,
)
from recordings_portal.catalog.models import Recording
from recordings_portal.vendors.models import VendorAccount

from .conftest import append_chain


def ids(queryset):
    return sorted(queryset.values_list("id", flat=True))


@pytest.fixture
def people(make_user):
    return make_user("sam", "supervisor"), make_user("cleo", "compliance")


@pytest.fixture
def accounts(db):
    first = VendorAccount.objects.create(name="First", kind="flyflow", base_url="https://a.test")
    second = VendorAccount.objects.create(name="Second", kind="flyflow", base_url="https://b.test")
    return first, second


@pytest.fixture
def recordings(accounts):
    first, second = accounts
    return (
        Recording.objects.create(account=first, external_id="r1"),
        Recording.objects.create(account=first, external_id="r2"),
        Recording.objects.create(account=second, external_id="r3"),
    )


def test_it_filters_by_actor_action_outcome_and_recording(people, recordings):
    sam, cleo = people
    r1, r2, _ = recordings
    played = record("recording.play", actor=sam, obj=r1)
    viewed = record("recording.view", actor=sam, obj=r2)
    denied = record("recording.play", actor=cleo, obj=r1, outcome=Outcome.DENIED)
    record("auth.login", actor=cleo, obj=cleo)

    assert ids(events(Filters(actor="sam"))) == [played.id, viewed.id]
    assert ids(events(Filters(actor_id=cleo.id, action="recording.play"))) == [denied.id]
    assert ids(events(Filters(action="recording.*"))) == [played.id, viewed.id, denied.id]
    assert ids(events(Filters(recording=r1.id))) == [played.id, denied.id]
    assert ids(events(Filters(outcome="denied"))) == [denied.id]
    assert ids(events(Filters(recording=r1.id, actor="sam"))) == [played.id]


def test_the_actor_filter_finds_a_renamed_user_under_either_name(people):
    sam, _ = people
    before = record("recording.search", actor=sam)
    sam.username = "samuel"
    sam.save()
    after = record("recording.search", actor=sam)
    assert ids(events(Filters(actor="sam"))) == [before.id]  # the name as recorded then
    assert ids(events(Filters(actor="samuel"))) == [before.id, after.id]  # who that is now


def test_a_vendor_account_selects_its_own_events_and_its_recordings(people, accounts, recordings):
    sam, _ = people
    first, second = accounts
    r1, r2, r3 = recordings
    on_account = record("vendor_account.sync", actor=sam, obj=first)
    on_r1 = record("recording.play", actor=sam, obj=r1)
    on_r2 = record("recording.view", actor=sam, obj=r2)
    record("recording.play", actor=sam, obj=r3)
    record("vendor_account.sync", actor=sam, obj=second)
    assert ids(events(Filters(vendor_account=first.id))) == [on_account.id, on_r1.id, on_r2.id]


def test_a_time_range_is_the_id_range_from_the_first_event_in_it_to_the_last(db):
    start = timezone.now() - timedelta(hours=1)
    append_chain(10, start=start, step=timedelta(minutes=1))
    all_ids = ids(AccessEvent.objects.all())
    since, until = start + timedelta(minutes=3), start + timedelta(minutes=7)
    assert ids(events(Filters(since=since, until=until))) == all_ids[3:7]
    assert ids(events(Filters(since=start + timedelta(hours=2)))) == []
    assert ids(events(Filters(until=start))) == []


def test_a_time_range_keeps_every_event_between_its_ends_even_out_of_time_order(db):
    # `at` is taken before the chain's lock, so a neighbour may be a little out of time order;
    # a contiguous range must not drop it.
    start = timezone.now() - timedelta(hours=1)
    append_chain(3, start=start, step=timedelta(minutes=1))
    append_chain(1, start=start - timedelta(minutes=10))  # late to the lock
    append_chain(3, start=start + timedelta(minutes=3), step=timedelta(minutes=1))
    all_ids = ids(AccessEvent.objects.all())
    selected = ids(events(Filters(since=start + timedelta(seconds=30))))
    assert selected == all_ids[1:]


def test_id_bounds_and_the_pin_limit_the_range(db):
    append_chain(10)
    all_ids = ids(AccessEvent.objects.all())
    assert ids(events(Filters(from_id=all_ids[2], to_id=all_ids[5]))) == all_ids[2:6]
    assert ids(events(Filters(from_id=all_ids[2]), through=all_ids[3])) == all_ids[2:4]


def test_only_range_filters_keep_an_export_contiguous():
    now = timezone.now()
    assert Filters().contiguous
    assert Filters(since=now, until=now, from_id=1, to_id=5).contiguous
    assert not Filters(action="recording.play").contiguous
    assert not Filters(since=now, actor="sam").contiguous


def test_the_url_form_of_the_filters_reads_back_the_same(db):
    from recordings_portal.audit.forms import FilterForm

    since = timezone.now().replace(microsecond=0) - timedelta(days=1)
    filters = Filters(since=since, action="recording.*", recording=5, outcome="denied")
    form = FilterForm(filters.as_query())
    assert form.is_valid(), form.errors
    assert form.filters() == filters


# --- keyset pagination -------------------------------------------------------------------


def test_it_pages_newest_first_with_keyset_cursors(db):
    append_chain(25)
    all_ids = ids(AccessEvent.objects.all())[::-1]
    first = page(Filters(), size=10)
    assert [e.id for e in first.events] == all_ids[:10]
    assert (first.newer, first.older, first.at_newest) == (None, all_ids[9], True)

    second = page(Filters(), before=first.older, size=10)
    assert [e.id for e in second.events] == all_ids[10:20]
    assert (second.newer, second.older) == (all_ids[10], all_ids[19])

    last = page(Filters(), before=second.older, size=10)
    assert [e.id for e in last.events] == all_ids[20:]
    assert last.older is None

    back = page(Filters(), after=last.newer, size=10)
    assert [e.id for e in back.events] == all_ids[10:20]
    assert (back.newer, back.older) == (all_ids[10], all_ids[19])
    top = page(Filters(), after=back.newer, size=10)
    assert [e.id for e in top.events] == all_ids[:10]
    assert top.newer is None


def test_pages_are_stable_while_events_are_appended(db):
    append_chain(20)
    first = page(Filters(), size=10)
    append_chain(5)  # new events arrive between two clicks on "Older"
    second = page(Filters(), before=first.older, size=10)
    assert second.events[0].id == first.events[-1].id - 1
    assert not {e.id for e in first.events} & {e.id for e in second.events}


def test_pages_apply_the_filters(people):
    sam, cleo = people
    for n in range(12):
        record("recording.play", actor=sam if n % 2 else cleo, object_type="x", object_id=n)
    first = page(Filters(actor="sam"), size=4)
    second = page(Filters(actor="sam"), before=first.older, size=4)
    shown = [e.object_id for e in first.events + second.events]
    assert shown == ["11", "9", "7", "5", "3", "1"]
    assert second.older is None


def test_a_page_costs_the_same_queries_however_deep(db, django_assert_max_num_queries):
    append_chain(300)
    newest = page(Filters(), size=10)
    deep = AccessEvent.objects.order_by("id").values_list("id", flat=True)[15]
    with django_assert_max_num_queries(1):
        page(Filters(), before=newest.older)
    with django_assert_max_num_queries(1):
        page(Filters(), before=deep)


# --- summaries ---------------------------------------------------------------------------


def test_who_accessed_a_recording_counts_per_person_and_action(people, recordings):
    sam, cleo = people
    r1, r2, _ = recordings
    record("recording.view", actor=sam, obj=r1)
    record("recording.play", actor=sam, obj=r1)
    record("recording.play", actor=sam, obj=r1)
    record("recording.play", actor=sam, obj=r2)
    record("recording.download", actor=cleo, obj=r1)
    summary = who_accessed(Filters(recording=r1.id))
    assert [(entry["actor"], entry["count"]) for entry in summary] == [("cleo", 1), ("sam", 3)]
    assert summary[1]["actions"] == [("recording.play", 2), ("recording.view", 1)]


def test_what_a_user_accessed_is_grouped_per_object_most_recent_first(people, recordings):
    sam, cleo = people
    r1, r2, r3 = recordings
    record("recording.play", actor=sam, obj=r1)
    record("recording.play", actor=sam, obj=r2)
    record("recording.view", actor=sam, obj=r1)
    record("recording.play", actor=cleo, obj=r3)
    record("recording.search", actor=sam, details={"q": "x"})  # no object: not listed
    objects, more = what_accessed(Filters(actor_id=sam.id))
    assert [(o["recording_id"], o["count"]) for o in objects] == [(r1.id, 2), (r2.id, 1)]
    assert objects[0]["actions"] == [("recording.play", 1), ("recording.view", 1)]
    assert not more
    objects, more = what_accessed(Filters(actor_id=sam.id), limit=1)
    assert len(objects) == 1
    assert more
