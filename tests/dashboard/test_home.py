import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.dashboard import chart, selectors
from recordings_portal.vendors.models import Health, VendorAccount

HOME = "/"
S = RecordingState


def at_noon(days_ago: int) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(12)))


@pytest.fixture
def account(db):
    def make(name: str, kind: str = "flyflow", **fields) -> VendorAccount:
        return VendorAccount.objects.create(
            name=name, kind=kind, base_url=f"https://{name.lower()}.test", **fields
        )

    return make


@pytest.fixture
def recording(db):
    numbers = iter(range(1, 10_000))

    def make(account, days_ago: int, state=S.AVAILABLE, size=None, stored=None, **fields):
        number = next(numbers)
        stored = state in (S.AVAILABLE, S.MASKED) if stored is None else stored
        return Recording.objects.create(
            account=account,
            external_id=f"{account.name.lower()}-{number}",
            started_at=at_noon(days_ago),
            state=state,
            size=size,
            storage_key=f"recordings/{account.pk}/{number}.mp3" if stored else "",
            **fields,
        )

    return make


@pytest.fixture
def fixture(account, recording):
    """Two accounts with recordings, one without; numbers the tests check by hand."""
    alpha = account("Alpha", "flyflow", health=Health.OK, last_synced_at=at_noon(0))
    beta = account(
        "Beta", "audian", health=Health.AUTH_FAILED, last_error="401 from Audian: key refused"
    )
    account("Gamma", "kaleyra")
    recording(alpha, 0, size=1000)
    recording(alpha, 0, size=2000)
    recording(alpha, 0, S.DISCOVERED)
    failed = recording(alpha, 1, S.FAILED, last_error="Gone at the vendor", download_attempts=5)
    recording(alpha, 29, S.DOWNLOADING)
    recording(alpha, 30, size=500)  # before the window: counted in totals, not in the chart
    recording(beta, 0, S.MASKED, size=4000)
    recording(beta, 2, S.DELETED, size=9999, stored=False)  # a tombstone: counted nowhere
    recording(beta, 2, S.AVAILABLE, size=8000, stored=False)  # no file behind it (yet)
    recording(beta, 3, S.FAILED, last_error="Checksum mismatch")
    return {"alpha": alpha, "beta": beta, "failed": failed}


# --- the numbers -------------------------------------------------------------------------


def test_it_counts_per_day_and_vendor_over_the_last_30_days(fixture):
    buckets = selectors.daily_counts()
    assert len(buckets) == 30
    assert buckets[-1].day == timezone.localdate()
    assert buckets[0].day == timezone.localdate() - timedelta(days=29)
    by_day = {bucket.day: bucket.counts for bucket in buckets if bucket.counts}
    today = timezone.localdate()
    assert by_day == {
        today: {"flyflow": 3, "audian": 1},
        today - timedelta(days=1): {"flyflow": 1},
        today - timedelta(days=2): {"audian": 1},  # the tombstone is left out
        today - timedelta(days=3): {"audian": 1},
        today - timedelta(days=29): {"flyflow": 1},
    }
    assert selectors.kinds_in(buckets) == [("flyflow", "Flyflow"), ("audian", "Audian")]


def test_days_are_the_display_time_zones_days(settings, account):
    settings.TIME_ZONE = "America/New_York"
    alpha = account("Alpha")
    # 03:00 UTC on 10 March is 23:00 on 9 March in New York.
    started = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    Recording.objects.create(account=alpha, external_id="late", started_at=started)
    now = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
    buckets = {bucket.day: bucket.total for bucket in selectors.daily_counts(now)}
    assert buckets[date(2026, 3, 9)] == 1
    assert buckets[date(2026, 3, 10)] == 0


def test_it_sums_storage_and_counts_waiting_per_account(fixture):
    summaries, totals = selectors.account_summaries()
    rows = {
        s.account.name: (s.total, s.available, s.waiting, s.failed, s.stored_bytes)
        for s in summaries
    }
    assert rows == {
        "Alpha": (6, 3, 2, 1, 3500),
        "Beta": (3, 2, 0, 1, 4000),
        "Gamma": (0, 0, 0, 0, 0),
    }
    assert (totals.accounts, totals.recordings, totals.stored_bytes) == (3, 9, 7500)
    assert (totals.discovered, totals.downloading, totals.waiting, totals.failed) == (1, 1, 2, 2)


def test_recent_failures_are_the_last_ten_newest_first(fixture, recording):
    for _ in range(12):
        recording(fixture["alpha"], 5, S.FAILED, last_error="later")
    failures = selectors.recent_failures()
    assert len(failures) == 10
    assert all(failure.state == S.FAILED for failure in failures)
    assert [f.updated_at for f in failures] == sorted(
        (f.updated_at for f in failures), reverse=True
    )
    assert fixture["failed"] not in failures


def test_chart_bars_are_as_tall_as_their_share_of_the_scale():
    today = date(2026, 3, 10)
    buckets = [selectors.DayBucket(today - timedelta(days=1), {"flyflow": 2, "audian": 1})]
    buckets.append(selectors.DayBucket(today, {"flyflow": 7}))
    layout = chart.layout(buckets, [("flyflow", "Flyflow"), ("audian", "Audian")])
    (day1, day2) = layout["bars"]
    assert [segment.count for segment in day1.segments] == [2, 1]
    assert day2.segments[0].height == pytest.approx(chart.PLOT_H * 7 / 8)  # scale tops at 8
    # Stacked: each segment sits on the one below it.
    low, high = day1.segments
    assert high.y + high.height == pytest.approx(low.y)
    assert [line.value for line in layout["gridlines"]] == [0, 4, 8]


@pytest.mark.parametrize(
    ("value", "nice"), [(0, 1), (1, 1), (3, 3), (7, 8), (12, 15), (51, 60), (499, 500), (801, 1000)]
)
def test_the_scale_ends_on_a_round_number(value, nice):
    assert chart.nice_ceiling(value) == nice


# --- the page, per role ------------------------------------------------------------------


def test_supervisors_see_figures_chart_accounts_and_failures(client_for, fixture):
    response = client_for("supervisor").get(HOME)
    assert response.status_code == 200
    body = response.content.decode()
    assert "7.3\xa0KB" in body  # storage used: 7,500 bytes of stored files
    assert '>1 discovered</a> · <a href="/recordings/?state=downloading">1 downloading<' in body
    assert body.count('<rect class="series-') == 6  # one per (day, vendor) with recordings
    assert body.count('<tr><th scope="row"><time datetime=') == 30  # the chart as a table
    assert f'href="/recordings/{fixture["failed"].pk}/"' in body
    assert "Gone at the vendor" in body and "after 5 attempts" in body
    assert "401 from Audian: key refused" in body
    assert "Credentials refused" in body  # the health badge
    assert f'href="/vendors/{fixture["alpha"].pk}/"' not in body  # account pages are admins'
    assert 'href="/api/tokens/"' in body
    # The figures lead to the search, filtered.
    assert 'href="/recordings/?state=failed"' in body
    assert f'href="/recordings/?account={fixture["alpha"].pk}"' in body


def test_admins_get_links_to_the_account_pages(client_for, fixture):
    body = client_for("admin").get(HOME).content.decode()
    assert f'href="/vendors/{fixture["alpha"].pk}/"' in body
    assert f'href="/vendors/{fixture["beta"].pk}/"' in body


def test_auditors_see_counts_but_no_recording(client_for, fixture):
    body = client_for("auditor").get(HOME).content.decode()
    assert "7.3\xa0KB" in body
    assert "Recent failures" not in body
    assert "Gone at the vendor" not in body
    assert "alpha-" not in body  # no recording's id
    assert "/recordings/" not in body
    assert "counts only" in body


def test_it_says_what_to_do_when_nothing_is_connected(client_for, db):
    body = client_for("admin").get(HOME).content.decode()
    assert "No vendor account is connected yet" in body
    assert 'href="/vendors/new/"' in body
    supervisor = client_for("supervisor").get(HOME).content.decode()
    assert "No vendor account is connected yet" in supervisor
    assert 'href="/vendors/new/"' not in supervisor


def test_an_account_without_recent_calls_says_so(client_for, account):
    account("Alpha")
    body = client_for("supervisor").get(HOME).content.decode()
    assert "No recorded calls started in the last 30 days" in body
    assert "<svg" not in body


def test_the_page_needs_no_inline_script_or_style(client_for, fixture):
    body = client_for("admin").get(HOME).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)
    assert not re.search(r"\sstyle=", body)
    assert not re.search(r"\son[a-z]+=", body)


def test_the_query_count_does_not_grow_with_accounts_or_recordings(
    client_for, fixture, account, recording
):
    client = client_for("supervisor")
    client.get(HOME)  # warm the user's permission cache paths
    with CaptureQueriesContext(connection) as small:
        client.get(HOME)
    for n in range(5):
        extra = account(f"Extra{n}", "koreai")
        for days in range(0, 30, 3):
            recording(extra, days, size=100)
            recording(extra, days, S.FAILED, last_error="x")
    with CaptureQueriesContext(connection) as large:
        assert client.get(HOME).status_code == 200
    assert len(large) == len(small)
    print(f"dashboard: {len(large)} queries")
    assert len(large) <= 8  # session, user, permissions, three dashboard queries
