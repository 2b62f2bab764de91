"""The search page: filters, free text, sort orders, keyset pages, counts, htmx, access log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import chain
from urllib.parse import unquote

import pytest
from django.db import connection

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog import selectors
from recordings_portal.catalog.models import Recording
from recordings_portal.catalog.selectors import Cursor, Filters, keyset_page, recordings_matching
from recordings_portal.vendors.models import VendorAccount
from tests.lib.browser import chromium, signed_in_tab

URL = "/recordings/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def accounts(db):
    alpha = VendorAccount.objects.create(kind="flyflow", name="Alpha", base_url="https://a.test")
    beta = VendorAccount.objects.create(kind="audian", name="Beta", base_url="https://b.test")
    return alpha, beta


def make(account, external_id: str, **fields) -> Recording:
    return Recording.objects.create(account=account, external_id=external_id, **fields)


@pytest.fixture
def catalog(accounts):
    """Five recordings that differ in every filtered field; r5 has no start, r4 no duration."""
    alpha, beta = accounts
    rows = [
        make(alpha, "r1", started_at=at("2026-01-10"), duration=30, direction="inbound",
             format="mp3", state="available", caller="+14155550101", callee="+14155552001"),
        make(alpha, "r2", started_at=at("2026-01-15", 23), duration=300, direction="outbound",
             format="wav", state="masked", caller="+14155552001", callee="+16505550199"),
        make(beta, "r3", started_at=at("2026-02-01"), duration=45, direction="inbound",
             format="opus", state="discovered", caller="+12125550123", callee="+14155552002"),
        make(beta, "r4", started_at=at("2026-02-20"), duration=None, direction="internal",
             format="mp3", state="failed", caller="1001", callee="1002"),
        make(beta, "r5", started_at=None, duration=600, direction="unknown",
             format="MP3", state="available", caller="", callee=""),
    ]  # fmt: skip
    return {row.external_id: row for row in rows}


def shown(response) -> list[str]:
    """The external ids of the rows on the page, in order (via the detail links' pks)."""
    pks = [int(pk) for pk in re.findall(rb'href="/recordings/(\d+)/"', response.content)]
    by_pk = dict(Recording.objects.filter(pk__in=pks).values_list("pk", "external_id"))
    return [by_pk[pk] for pk in pks]


def next_link(response, rel="next") -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"'.encode(), response.content)
    return match.group(1).decode().replace("&amp;", "&") if match else None


# --- the page ------------------------------------------------------------------------------


def test_it_lists_the_essentials_with_a_play_link(client_for, catalog):
    response = client_for("supervisor").get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    r1 = catalog["r1"]
    assert "Alpha" in body and "+14155550101 → +14155552001" in body
    assert "2026-01-10 12:00:00" in body and "0:30" in body and "Available" in body
    assert f'href="/recordings/{r1.pk}/"' in body
    assert "5 results" in body
    # Newest first; the recording without a start time counts as newest (nulls first).
    assert shown(response) == ["r5", "r4", "r3", "r2", "r1"]


@pytest.mark.parametrize("role", ["supervisor", "compliance", "admin"])
def test_it_is_open_to_the_roles_that_browse(client_for, catalog, role):
    assert client_for(role).get(URL).status_code == 200


def test_it_refuses_the_auditor_and_anonymous_users(client_for, catalog):
    assert client_for("auditor").get(URL).status_code == 403
    assert client_for("auditor").get(URL, **HTMX).status_code == 403
    response = client_for(None).get(URL)
    assert response.status_code == 302 and "/accounts/login" in response["Location"]


def test_it_shows_the_nav_link_to_those_who_may_browse(client_for, db):
    assert b'href="/recordings/"' in client_for("supervisor").get("/").content
    assert b'href="/recordings/"' not in client_for("auditor").get("/").content


# --- filters -------------------------------------------------------------------------------

FILTER_CASES = [
    ({"kind": "audian"}, {"r3", "r4", "r5"}),
    ({"started_from": "2026-01-15"}, {"r2", "r3", "r4"}),
    ({"started_to": "2026-01-15"}, {"r1", "r2"}),  # the whole day, 23:00 included
    ({"started_from": "2026-01-11", "started_to": "2026-02-01"}, {"r2", "r3"}),
    ({"duration_min": "45"}, {"r2", "r3", "r5"}),
    ({"duration_max": "1:00"}, {"r1", "r3"}),
    ({"duration_min": "0:31", "duration_max": "5:00"}, {"r2", "r3"}),
    ({"direction": "inbound"}, {"r1", "r3"}),
    ({"format": "mp3"}, {"r1", "r4", "r5"}),  # whatever case the vendor used
    ({"state": "available"}, {"r1", "r5"}),
    ({"masked": "yes"}, {"r2"}),
    ({"masked": "no"}, {"r1", "r3", "r4", "r5"}),
    ({"kind": "audian", "format": "mp3"}, {"r4", "r5"}),
    ({"kind": "flyflow", "direction": "outbound", "masked": "yes"}, {"r2"}),
    ({"started_from": "2026-01-01", "started_to": "2026-01-31", "duration_min": "60"}, {"r2"}),
    ({"state": "available", "masked": "yes"}, set()),
]


@pytest.mark.parametrize(("params", "expected"), FILTER_CASES)
def test_each_filter_and_combinations_narrow_the_results(client_for, catalog, params, expected):
    response = client_for("supervisor").get(URL, params)
    assert set(shown(response)) == expected
    if not expected:
        assert b"Nothing matches" in response.content


def test_the_account_filter_takes_an_account_id(client_for, catalog, accounts):
    response = client_for("supervisor").get(URL, {"account": accounts[1].pk})
    assert set(shown(response)) == {"r3", "r4", "r5"}
    assert b"Vendor account: Beta" in response.content  # the filter, shown removable


@pytest.mark.parametrize(
    ("params", "ignored", "remaining"),
    [
        ({"duration_min": "long"}, "duration at least", 5),
        ({"started_from": "2026-02-30"}, "from", 5),
        ({"account": "999999"}, "vendor account", 5),
        ({"account": "x'; DROP TABLE"}, "vendor account", 5),
        ({"direction": "sideways"}, "direction", 5),
        ({"state": "lost"}, "state", 5),
        ({"format": "../etc"}, "format", 5),
        ({"q": "x" * 201}, "search", 5),
        ({"sort": "price"}, "sort", 5),
        ({"size": "1000000"}, "per page", 5),
        # The second of two contradicting values goes; the first still filters.
        ({"started_from": "2026-02-01", "started_to": "2026-01-01"}, "to", 2),
        ({"duration_min": "90", "duration_max": "10"}, "duration at most", 2),
    ],
)
def test_a_bad_value_is_named_and_ignored(client_for, catalog, params, ignored, remaining):
    response = client_for("supervisor").get(URL, params)
    assert response.status_code == 200
    notice = re.search(rb'class="message warning">([^<]+)<', response.content)
    assert notice is not None
    assert notice.group(1).decode().lower().startswith(("ignored " + ignored, "unknown " + ignored))
    assert len(shown(response)) == remaining
    assert b'aria-invalid="true"' in response.content  # the field is marked in the form


def test_a_filter_in_force_can_be_removed_alone(client_for, catalog):
    response = client_for("supervisor").get(URL, {"kind": "audian", "direction": "inbound"})
    assert shown(response) == ["r3"]
    assert b'href="/recordings/?kind=audian"' in response.content  # "direction" removed
    assert b'href="/recordings/?direction=inbound"' in response.content  # "kind" removed


# --- free text -----------------------------------------------------------------------------


@pytest.fixture
def texts(accounts):
    alpha, _ = accounts
    when = at("2026-03-01")
    return {
        "caller": make(alpha, "t1", caller="+441632960001", started_at=when),
        "callee": make(alpha, "t2", callee="+441632960777", started_at=when),
        "participants": make(alpha, "t3", participants=["alice@example.com"], started_at=when),
        "call id": make(alpha, "t4", vendor_call_id="CALL-7f3a9", started_at=when),
        "external id": make(alpha, "sess-XYZ-42", started_at=when),
        "metadata": make(alpha, "t6", metadata={"userId": "u-8812", "deep": {"queue": "sales"}},
                         started_at=when),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("1632960001", "caller"),
        ("960777", "callee"),
        ("ALICE@example", "participants"),
        ("call-7F3A", "call id"),
        ("xyz-4", "external id"),
        ("u-8812", "metadata"),
        ("sales", "metadata"),  # nested values too
    ],
)
def test_the_search_box_looks_in_every_searched_field(client_for, texts, query, field):
    response = client_for("supervisor").get(URL, {"q": query})
    assert shown(response) == [texts[field].external_id]


def test_metadata_keys_are_not_searched(client_for, texts):
    assert shown(client_for("supervisor").get(URL, {"q": "userId"})) == []


def test_every_word_must_match(client_for, texts):
    client = client_for("supervisor")
    assert shown(client.get(URL, {"q": "alice example"})) == ["t3"]
    assert shown(client.get(URL, {"q": "alice bob"})) == []


def test_a_phone_number_may_be_typed_with_spaces_and_dashes(client_for, texts):
    response = client_for("supervisor").get(URL, {"q": "+44 (1632) 960-001"})
    assert shown(response) == ["t1"]


def test_a_short_term_matches_whole_values_only(client_for, accounts):
    alpha, _ = accounts
    make(alpha, "42", caller="100")
    make(alpha, "other", caller="4200")
    client = client_for("supervisor")
    assert shown(client.get(URL, {"q": "42"})) == ["42"]
    assert shown(client.get(URL, {"q": "420"})) == ["other"]


def test_search_terms_read_phone_numbers_and_words():
    assert selectors.search_terms("  ") == []
    assert selectors.search_terms("+1 (415) 555-2001") == ["+14155552001"]
    assert selectors.search_terms("alice  alice bob") == ["alice", "bob"]
    assert selectors.search_terms("2026 01") == ["2026", "01"]  # too few digits for a number


# --- sort orders ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-started", ["r5", "r4", "r3", "r2", "r1"]),
        ("started", ["r1", "r2", "r3", "r4", "r5"]),
        ("-duration", ["r4", "r5", "r2", "r3", "r1"]),
        ("duration", ["r1", "r3", "r2", "r5", "r4"]),
    ],
)
def test_it_sorts_by_start_or_duration_both_ways(client_for, catalog, sort, expected):
    response = client_for("supervisor").get(URL, {"sort": sort})
    assert shown(response) == expected


def test_equal_sort_keys_are_ordered_by_id(client_for, accounts):
    alpha, _ = accounts
    rows = [make(alpha, f"same-{n}", started_at=at("2026-01-01")) for n in range(3)]
    response = client_for("supervisor").get(URL)
    assert shown(response) == [row.external_id for row in reversed(rows)]
    assert shown(client_for("supervisor").get(URL, {"sort": "started"})) == [
        row.external_id for row in rows
    ]


# --- keyset pages --------------------------------------------------------------------------


@pytest.fixture
def many(accounts):
    """60 rows with repeated start times and durations and some unknown ones of each."""
    alpha, beta = accounts
    base = at("2026-01-01")
    rows = [
        Recording(
            account=alpha if n % 2 else beta,
            external_id=f"m{n:03d}",
            started_at=None if n % 11 == 0 else base + timedelta(hours=n // 3),
            duration=None if n % 7 == 0 else float(n % 9) * 10,
        )
        for n in range(60)
    ]
    Recording.objects.bulk_create(rows)
    return list(Recording.objects.filter(external_id__startswith="m"))


def expected_order(rows, sort):
    key, descending = selectors.SORTS[sort]
    known = sorted(
        (r for r in rows if getattr(r, key) is not None),
        key=lambda r: (getattr(r, key), r.pk),
        reverse=descending,
    )
    unknown = sorted((r for r in rows if getattr(r, key) is None), key=lambda r: r.pk)
    if descending:
        return [r.external_id for r in reversed(unknown)] + [r.external_id for r in known]
    return [r.external_id for r in known] + [r.external_id for r in unknown]


def walk(client, url):
    pages, urls = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(shown(response))
        urls.append(url)
        url = next_link(response)
    return pages, urls


@pytest.mark.parametrize("sort", list(selectors.SORTS))
def test_next_and_previous_walk_every_row_once_in_order(client_for, many, sort):
    client = client_for("supervisor")
    pages, urls = walk(client, f"{URL}?sort={sort}&size=25")
    assert [len(page) for page in pages] == [25, 25, 10]
    assert list(chain(*pages)) == expected_order(many, sort)
    # Back from the last page through "Previous" shows the same pages again.
    response = client.get(urls[-1])
    for page in reversed(pages[:-1]):
        response = client.get(next_link(response, "prev"))
        assert shown(response) == page
    assert next_link(response, "prev") is None  # the first page has no Previous
    assert b"page 2" in client.get(urls[1]).content


def test_the_selector_alone_pages_the_same_way(many):
    queryset = recordings_matching(Filters())
    seen, after = [], None
    while True:
        page = keyset_page(queryset, sort="duration", size=7, after=after)
        seen += [row.external_id for row in page.rows]
        if page.next is None:
            break
        after = page.next
    assert seen == expected_order(many, "duration")


@pytest.mark.parametrize("sort", ["-started", "duration"])
def test_pages_stay_stable_while_rows_arrive(client_for, many, accounts, sort):
    """Rows inserted between page requests never make an existing row repeat or go missing."""
    alpha, _ = accounts
    client = client_for("supervisor")
    url, seen, added = f"{URL}?sort={sort}&size=10", [], 0
    while url:
        response = client.get(url)
        seen += shown(response)
        url = next_link(response)
        # New rows everywhere in the order: before the cursor, after it, unknown keys.
        for started, duration in [
            (at("2025-06-01"), 1.0),
            (at("2026-01-01", 5), 40.0),
            (at("2027-01-01"), 5000.0),
            (None, None),
        ]:
            make(alpha, f"new-{added}", started_at=started, duration=duration)
            added += 1
    existing = [row.external_id for row in many]
    assert len(seen) == len(set(seen)), "a row repeated"
    assert set(existing) <= set(seen), "a row went missing"
    assert [x for x in seen if x in set(existing)] == expected_order(many, sort)


def test_a_tampered_cursor_is_refused_and_the_first_page_shown(client_for, many):
    client = client_for("supervisor")
    first = client.get(URL)
    link = next_link(first)
    token = unquote(link.split("after=")[1])
    forged = Cursor("-started", None, 1, 2).encode()[:-3] + "abc"
    for bad in [token[:-2] + "zz", "garbage", forged, "x" * 5000, token.replace(":", "")]:
        response = client.get(URL, {"after": bad})
        assert response.status_code == 200
        assert b"That page link is not one the portal made. Showing the first page." in (
            response.content
        )
        assert shown(response) == shown(first)


def test_a_cursor_of_another_sort_order_is_refused(client_for, many):
    client = client_for("supervisor")
    link = next_link(client.get(URL))
    response = client.get(link.replace("/recordings/?", "/recordings/?sort=duration&"))
    assert b"belongs to another sort order" in response.content
    assert shown(response) == expected_order(many, "duration")[:25]


def test_a_signed_cursor_with_bad_contents_is_refused():
    from django.core import signing

    signer = signing.Signer(salt=selectors.CURSOR_SALT)
    for payload in (
        ["-started", "yesterday", 5, 2, 30, 0],
        ["-started", "2026-01-01T00:00:00", 5, 2, 30, 0],  # naive
        ["-duration", "10", 5, 2, 30, 0],
        ["-duration", 10, -1, 2, 30, 0],
        ["-duration", 10, 5, 0, 30, 0],
        ["-duration", 10, 5, 2, -30, 0],
        ["-duration", 10, 5, 2, 30, "yes"],
        ["-duration", 10, 5, 2],
        {"s": "-duration"},
    ):
        sort = payload[0] if isinstance(payload, list) else "-duration"
        with pytest.raises(selectors.InvalidCursor):
            Cursor.decode(signer.sign_object(payload), sort)


# Session, user, 2 x permissions, account choices, rows (2 when a page crosses from known to
# unknown sort keys), capped count, the user's last search (is this one new?), the access
# event (savepoint, lock on PostgreSQL, tip, insert, release), the roles shown in the header.
QUERY_BUDGET = 15


@pytest.mark.parametrize("size", [25, 100])
def test_the_number_of_queries_does_not_grow_with_the_page(
    client_for, accounts, size, django_assert_max_num_queries
):
    alpha, beta = accounts
    Recording.objects.bulk_create(
        Recording(account=alpha if n % 2 else beta, external_id=f"qrow-{n}", started_at=None)
        for n in range(2 * size + 5)
    )
    client = client_for("supervisor")
    with django_assert_max_num_queries(QUERY_BUDGET):
        first = client.get(URL, {"size": size, "q": "qrow", "direction": "unknown"})
    with django_assert_max_num_queries(QUERY_BUDGET):
        second = client.get(next_link(first))
    assert len(shown(first)) == len(shown(second)) == size


def test_pages_of_25_and_100_rows_cost_the_same_queries(client_for, accounts):
    from django.test.utils import CaptureQueriesContext

    alpha, _ = accounts
    Recording.objects.bulk_create(
        Recording(account=alpha, external_id=f"qrow-{n}", started_at=at("2026-01-01"))
        for n in range(205)
    )
    client = client_for("supervisor")
    counts = []
    for size, query in ((25, "qrow"), (100, "qrow-")):  # two searches: both are recorded
        with CaptureQueriesContext(connection) as first:
            response = client.get(URL, {"size": size, "q": query})
        with CaptureQueriesContext(connection) as second:
            client.get(next_link(response))
        counts.append((len(first), len(second)))
    assert counts[0] == counts[1]


# --- counts --------------------------------------------------------------------------------


def test_counts_stop_at_the_cap(client_for, accounts, monkeypatch):
    alpha, _ = accounts
    monkeypatch.setattr(selectors, "COUNT_CAP", 30)
    Recording.objects.bulk_create(Recording(account=alpha, external_id=f"c{n}") for n in range(40))
    assert selectors.count_capped(Recording.objects.all()) == (30, True)
    assert selectors.count_capped(Recording.objects.all(), cap=50) == (40, False)
    assert b"30+ results" in client_for("supervisor").get(URL).content


def test_the_count_is_exact_below_the_cap(client_for, many):
    assert b"60 results" in client_for("supervisor").get(URL).content


@pytest.mark.parametrize("query", [{}, {"q": "4420 7946"}])
def test_a_search_is_counted_once_and_its_pages_carry_the_count(
    client_for, many, accounts, monkeypatch, query
):
    Recording.objects.bulk_create(
        Recording(account=accounts[0], external_id=f"london-{n}", caller=f"+44207946{n:04d}")
        for n in range(30)
    )
    monkeypatch.setattr(selectors, "COUNT_CAP", 40)
    client = client_for("supervisor")
    first = client.get(URL, query)
    summary = re.search(rb'role="status">\s*([^<]+?)\s*<', first.content).group(1)
    assert summary == (b"40+ results" if not query else b"30 results")
    calls = []
    monkeypatch.setattr(selectors, "count_capped", lambda *a, **k: calls.append(a) or (0, False))
    make(accounts[0], "london-late", caller="+442079469999")  # arrives after the count
    second = client.get(next_link(first))
    assert summary + b" \xc2\xb7 page 2" in second.content
    assert calls == []


@pytest.mark.parametrize("sort", list(selectors.SORTS))
@pytest.mark.parametrize("cap", [1000, 6])
def test_a_text_search_counts_and_pages_from_one_scan(
    many, monkeypatch, django_assert_num_queries, sort, cap
):
    monkeypatch.setattr(selectors, "COUNT_CAP", cap)
    # Two queries either way: every match's (id, key) then the page's rows by id; or, past
    # the cap, the first cap + 1 matches then an ordered page.
    with django_assert_num_queries(2):
        page = selectors.search(Filters(q="m00"), sort=sort, size=4)
    assert (page.count, page.more) == ((10, False) if cap > 10 else (6, True))
    assert page.has_next
    matching = [x for x in expected_order(many, sort) if x.startswith("m00")]
    assert [r.external_id for r in page.rows] == matching[:4]
    rest = selectors.search(Filters(q="m00"), sort=sort, size=4, after=page.next)
    assert [r.external_id for r in rest.rows] == matching[4:8]


# --- empty states --------------------------------------------------------------------------


def test_an_empty_catalog_says_who_fills_it(client_for, accounts):
    for role in ("supervisor", "admin"):
        response = client_for(role).get(URL, {"state": "available"})
        assert b"No vendor account has delivered recordings yet" in response.content
        assert b"Nothing matches" not in response.content
    assert b"Add a vendor account" in response.content  # the admin may add one


def test_no_results_differs_from_an_empty_catalog(client_for, catalog):
    response = client_for("supervisor").get(URL, {"q": "nobody-has-this"})
    assert b"Nothing matches" in response.content
    assert b"widen the dates" in response.content
    assert b"No vendor account has delivered" not in response.content


# --- htmx and the URL ----------------------------------------------------------------------


def test_htmx_gets_the_results_partial_and_the_canonical_url(client_for, catalog):
    client = client_for("supervisor")
    full = client.get(URL, {"q": "4155", "kind": "", "sort": "-started", "size": "25"})
    assert b'<form id="search-form"' in full.content and b"<html" in full.content
    partial = client.get(URL, {"q": "4155", "kind": "", "sort": "-started"}, **HTMX)
    assert partial.status_code == 200
    assert b'id="results"' in partial.content
    assert b"<form" not in partial.content and b"<html" not in partial.content
    assert shown(partial) == shown(full) == ["r3", "r2", "r1"]
    # Empty and default values are left out of the URL pushed to the address bar.
    assert partial["HX-Push-Url"] == "/recordings/?q=4155"
    for response in (full, partial):
        assert "HX-Request" in response["Vary"]
        assert "no-store" in response["Cache-Control"]


def test_back_button_restores_get_the_whole_page(client_for, catalog):
    response = client_for("supervisor").get(
        URL, {"q": "4155"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert b'<form id="search-form"' in response.content


def test_the_url_carries_the_whole_state(client_for, catalog, accounts):
    params = {
        "q": "+1415",
        "account": str(accounts[0].pk),
        "kind": "flyflow",
        "started_from": "2026-01-01",
        "started_to": "2026-01-31",
        "duration_min": "0:10",
        "direction": "outbound",
        "format": "wav",
        "state": "masked",
        "masked": "yes",
        "sort": "duration",
        "size": "50",
    }
    response = client_for("supervisor").get(URL, params)
    body = response.content.decode()
    assert shown(response) == ["r2"]
    assert 'value="+1415"' in body and 'value="2026-01-31"' in body and 'value="0:10"' in body
    for name in ("account", "kind", "direction", "state", "masked", "sort", "size"):
        select = re.search(rf'<select name="{name}".*?</select>', body, re.S).group(0)
        assert f'value="{params[name]}" selected' in select, name
    # The htmx wiring: typing (debounced) and filter changes update the results and the URL.
    assert 'hx-trigger="input changed delay:300ms, submit"' in body
    assert 'hx-push-url="true"' in body and 'method="get"' in body


def test_no_inline_script_or_style(client_for, catalog):
    body = client_for("supervisor").get(URL).content.decode()
    assert "<script>" not in body.replace("<script src", "")
    assert " style=" not in body and " onclick=" not in body


# --- bulk actions: ticked rows posted to the compliance confirmation pages ---------------------


def bulk_form(body: str) -> str:
    match = re.search(r'<form class="bulk-form".*?</form>', body, re.S)
    assert match, "no bulk form"
    return match.group(0)


def bulk_buttons(form: str) -> dict[str, tuple[str, str]]:
    """Button label -> (formaction, the `action` it posts or "")."""
    button = r'<button type="submit" formaction="([^"]+)"(?: name="action" value="(\w+)")?>'
    found = re.findall(button + r"([^<]+)</button>", form)
    return {label: (url, action) for url, action, label in found}


def test_roles_that_may_not_delete_or_hold_get_no_checkboxes(client_for, catalog):
    body = client_for("supervisor").get(URL).content.decode()
    assert "bulk-form" not in body and 'name="ids"' not in body
    assert "bulk-select.js" not in body


def test_each_role_gets_the_bulk_buttons_it_may_use(client_for, catalog):
    officer = bulk_buttons(bulk_form(client_for("compliance").get(URL).content.decode()))
    assert officer == {
        "Delete selected…": ("/compliance/bulk/delete/", ""),
        "Hold selected…": ("/compliance/bulk/hold/", "set"),
        "Lift hold…": ("/compliance/bulk/hold/", "lift"),
    }
    admin = bulk_buttons(bulk_form(client_for("admin").get(URL).content.decode()))
    assert admin == {"Delete selected…": ("/compliance/bulk/delete/", "")}


def test_the_bulk_form_posts_the_ticked_ids_to_the_confirmation_pages(client_for, catalog):
    from django.test import Client

    client = client_for("compliance")
    session = client.cookies["sessionid"].value
    checked = Client(enforce_csrf_checks=True)  # the form must carry its own CSRF token
    checked.cookies["sessionid"] = session
    body = checked.get(URL).content.decode()
    assert '<script src="/static/js/bulk-select.js" defer></script>' in body
    form = bulk_form(body)
    assert 'method="post"' in form
    assert '<input type="checkbox" data-select-all aria-label="Select all on this page"' in form
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    ids = re.findall(r'<input type="checkbox" name="ids" value="(\d+)"', form)
    assert sorted(map(int, ids)) == sorted(row.pk for row in catalog.values())
    buttons = bulk_buttons(form)
    r1, r3 = catalog["r1"], catalog["r3"]
    ticked = [str(r1.pk), str(r3.pk)]

    url, _ = buttons["Delete selected…"]
    page = checked.post(url, {"csrfmiddlewaretoken": token, "ids": ticked})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Delete 2 recordings" in text
    assert "Alpha · r1" in text and "Beta · r3" in text and "Alpha · r2" not in text
    assert text.count('<input type="hidden" name="ids"') == 2

    url, action = buttons["Hold selected…"]
    page = checked.post(url, {"csrfmiddlewaretoken": token, "ids": ticked, "action": action})
    text = page.content.decode()
    assert "Set a legal hold on 2 recordings" in text and "Alpha · r1" in text

    Recording.objects.filter(pk=r1.pk).update(legal_hold=True)
    url, action = buttons["Lift hold…"]
    page = checked.post(url, {"csrfmiddlewaretoken": token, "ids": ticked, "action": action})
    text = page.content.decode()
    assert "Lift the legal hold of 1 recording" in text and "Alpha · r1" in text
    assert "1 is not held" in text


def test_the_htmx_results_carry_the_bulk_form(client_for, catalog):
    partial = client_for("compliance").get(URL, {"q": "4155"}, **HTMX).content.decode()
    assert "<html" not in partial
    form = bulk_form(partial)
    assert 'name="csrfmiddlewaretoken"' in form and len(re.findall(r'name="ids"', form)) == 3


def test_the_bulk_form_has_no_inline_script_or_style(client_for, catalog):
    body = client_for("compliance").get(URL).content.decode()
    assert "<script>" not in body.replace("<script src", "")
    assert not re.search(r"\sstyle=|\son[a-z]+=", body)


# --- the access log ------------------------------------------------------------------------


def test_each_search_is_recorded_but_not_its_next_pages(client_for, many, users):
    client = client_for("supervisor")
    response = client.get(URL, {"q": "m0", "duration_min": "10", "state": "bogus"})
    events = list(AccessEvent.objects.filter(action="recording.search"))
    assert len(events) == 1
    event = events[0]
    assert event.actor == users["supervisor"]
    assert event.details["query"] == "m0"
    assert event.details["filters"] == {"duration_min": "10"}
    assert event.details["ignored"] == ["state"]
    assert event.details["sort"] == "-started"
    client.get(next_link(response))
    client.get(next_link(response), **HTMX)
    assert AccessEvent.objects.filter(action="recording.search").count() == 1
    client.get(URL, {"q": "m01"}, **HTMX)  # the query changed: a new search
    assert AccessEvent.objects.filter(action="recording.search").count() == 2


def test_the_same_search_again_moments_later_is_not_a_new_search(client_for, catalog, monkeypatch):
    from django.utils import timezone

    client = client_for("supervisor")
    searches = AccessEvent.objects.filter(action="recording.search")
    client.get(URL, {"q": "4155", "state": "available"}, **HTMX)
    client.get(URL, {"q": "4155", "state": "available"})  # the same page reloaded
    client.get(URL, {"q": "4155", "state": "available", "size": "100"})
    assert searches.count() == 1
    client.get(URL, {"q": "4155", "state": "available", "sort": "duration"})
    client.get(URL, {"q": "4155", "state": "available"})  # back to the first: a change again
    assert searches.count() == 3
    later = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    client.get(URL, {"q": "4155", "state": "available"})
    assert searches.count() == 4
    # Another user's same search is theirs to record.
    client_for("compliance").get(URL, {"q": "4155", "state": "available"})
    assert searches.count() == 5


def test_a_refused_user_leaves_no_search_event(client_for, catalog):
    client_for("auditor").get(URL, {"q": "4155"})
    assert not AccessEvent.objects.filter(action="recording.search").exists()


# --- PostgreSQL: the indexes are the ones the queries use ----------------------------------


@pytest.mark.postgres
def test_the_free_text_search_uses_the_trigram_index(accounts):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: the trigram index does not exist on SQLite")
    alpha, _ = accounts
    Recording.objects.bulk_create(
        Recording(account=alpha, external_id=f"bulk-{n}", caller=f"+1415{n:07d}")
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        # New rows wait in the GIN pending list until vacuum; flush it as autovacuum would.
        cursor.execute("SELECT gin_clean_pending_list('recording_search_trgm')")
        cursor.execute("ANALYZE catalog_recording")
        # A table this small is cheaper to scan whole; what is checked is that the index
        # matches the query's expression, which it must for the planner to use it at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
    queryset = recordings_matching(Filters(q="4150001234")).order_by("-started_at")
    plan = queryset.explain()
    assert "Bitmap Index Scan on recording_search_trgm" in plan, plan


@pytest.mark.postgres
def test_a_deep_page_is_an_index_range_scan(many):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    row = Recording.objects.filter(started_at__isnull=False).order_by("started_at").first()
    cursor = Cursor("-started", row.started_at, row.pk, 9)
    key, descending = selectors.SORTS["-started"]
    queryset = (
        recordings_matching(Filters())
        .filter(selectors._after(key, descending, cursor.value, cursor.id)[0])
        .order_by(*selectors.ordering(key, descending))[:26]
    )
    with connection.cursor() as db:
        db.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    assert "recording_started_idx" in plan
    assert "Sort" not in plan.split("->")[0]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (Filters(format="OPUS"), "recording_format_idx"),
        (Filters(direction="unknown"), "recording_direction_idx"),
        (Filters(q="ab"), "recording_external_id_idx"),  # short terms: whole values
    ],
)
def test_the_filters_without_a_model_index_have_one(catalog, filters, index):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert index in recordings_matching(filters).order_by().explain()


# --- in a real browser (skipped where no Chromium is installed) ----------------------------


def test_typing_filtering_paging_and_back_in_a_browser(
    live_server, client, users, accounts, settings
):
    """htmx as wired, under the portal's Content-Security-Policy: results follow the typing
    (debounced) and the filters, the address bar follows the results, Back restores both."""
    alpha, beta = accounts
    Recording.objects.bulk_create(
        Recording(
            account=alpha if n % 2 else beta,
            external_id=f"call-{n}",
            caller=f"+4420794600{n:02d}",
            started_at=at("2026-01-01") + timedelta(minutes=n),
        )
        for n in range(40)
    )
    client.force_login(users["supervisor"])
    problems = []
    with chromium() as browser:
        tab = signed_in_tab(browser, live_server, client, settings, problems)
        tab.goto(live_server.url + URL)

        def shows(summary: str, query: str) -> None:
            """Wait until the results say `summary` and the address bar ends in `query`."""
            status = "document.querySelector('#results [role=status]').textContent"
            tab.wait_for_function(f"() => {status}.trim().startsWith({summary!r})")
            tab.wait_for_function(f"() => location.search === {query!r}")

        shows("40 results", "")
        tab.locator("#id_q").press_sequentially("7946001", delay=20)
        shows("10 results", "?q=7946001")  # +442079460010 … 19

        tab.select_option("#id_account", str(alpha.pk))
        shows("5 results", f"?q=7946001&account={alpha.pk}")

        tab.click(".chips a")  # remove the account filter: a plain link, the whole page
        shows("10 results", "?q=7946001")
        assert tab.input_value("#id_account") == ""

        tab.fill("#id_q", "")
        tab.locator("#id_q").press("Enter")
        shows("40 results", "")
        tab.click("a[rel=next]")
        tab.wait_for_function("() => location.search.startsWith('?after=')")
        tab.wait_for_selector("text=40 results · page 2")
        assert tab.locator("#results tbody tr").count() == 15

        tab.go_back()
        shows("40 results", "")
        tab.go_back()
        tab.go_back()
        # Back asks the server for the whole page, so the form shows that search again.
        shows("5 results", f"?q=7946001&account={alpha.pk}")
        assert tab.input_value("#id_q") == "7946001"
        assert tab.input_value("#id_account") == str(alpha.pk)
    assert problems == []


def test_select_all_and_a_bulk_button_in_a_browser(live_server, client, users, catalog, settings):
    client.force_login(users["compliance"])
    problems = []
    with chromium() as browser:
        tab = signed_in_tab(browser, live_server, client, settings, problems)
        tab.goto(live_server.url + URL)
        select_all = tab.locator("[data-select-all]")
        select_all.check()
        assert tab.locator("[data-select-one]:checked").count() == 5
        tab.locator("[data-select-one]").first.uncheck()
        assert tab.evaluate("document.querySelector('[data-select-all]').indeterminate")
        # The results swapped in by htmx work the same (listeners are on the document).
        tab.fill("#id_q", "4155")
        tab.wait_for_selector("text=3 results")
        tab.locator("[data-select-all]").check()
        assert tab.locator("[data-select-one]:checked").count() == 3
        tab.click("text=Hold selected…")
        tab.wait_for_selector("text=Set a legal hold on 3 recordings")
    assert problems == []
