"""Search at scale: 1,000,000 recordings on PostgreSQL, the search page's queries vs naive ones.

Generates the catalog in its own database (`portal_bench_search`, next to the ingest
benchmark's `portal_bench`) with one `INSERT ... SELECT generate_series` (secondary indexes
dropped during the load and rebuilt after it), runs VACUUM ANALYZE, then times:

- free text with two filters: 7 digits of a customer's number (a handful of matches), in that
  customer's vendor account, state "available": the GIN trigram index; and the same with
  7 digits of an agent's number (hundreds to thousands of matches), the hard case;
- a deep page: page 5,000 of the whole catalog, newest first, 25 rows a page: one index range
  scan from a keyset cursor (found by walking the 4,999 pages before it, as a user would).

What is timed ("selector"): `catalog.selectors.search()`, which is what the view calls: the
page's rows (account joined) and the capped count, taken on page 1 and carried by the cursors
of later pages (a second line shows page 5,000 counting again anyway). Next to each, in the same
run: the naive way, a Django Paginator over `icontains` on each searched field (OR), with its
COUNT(*) and OFFSET. Fewer naive runs (--naive-runs): they take seconds each. For information,
the whole htmx request through Django's test client is timed too (session, permissions, form,
the access-log write of a new search, rendering the results partial).

    .venv/bin/python bench/bench_search.py [--rows 1000000] [--runs 200] [--naive-runs 20]
                                           [--regenerate]

The data is kept between runs (regenerated when the row count differs or with --regenerate).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import time

from common import DEFAULT_DB, machine, setup_django, stamp, timed

ACCOUNTS = [
    ("kaleyra", "bench search Kaleyra"),
    ("koreai", "bench search Kore.ai"),
    ("flyflow", "bench search Flyflow"),
    ("audian", "bench search Audian EU"),
    ("audian", "bench search Audian US"),
    ("iotcomms", "bench search iotcomms"),
]
PAGE_SIZE = 25
SEARCHED = ("caller", "callee", "vendor_call_id", "external_id", "participants", "metadata")
DEEP_PAGE = 5000

# One row per generate_series value. Distributions: a year of calls in office hours; durations
# mostly short (log-uniform 10 s - 4 min), some up to 15 min, a few up to 30; 5 % not yet known
# (not downloaded); 55 % inbound; customer numbers random over US area codes, agents from a
# pool of 200; uneven account sizes; states mostly available; metadata with a queue and a user.
GENERATE = """
WITH s AS (
    SELECT g,
        random() AS r_account, random() AS r_duration, random() AS r_direction,
        random() AS r_format, random() AS r_state, random() AS r_null,
        '+1' || (201 + floor(random() * 789))::int
             || lpad(floor(random() * 10000000)::int::text, 7, '0') AS customer,
        '+1415555' || (2000 + floor(random() * 200))::int AS agent,
        date_trunc('day', now() - random() * interval '365 days')
            + interval '7 hours' + random() * interval '12 hours' AS started
    FROM generate_series(1, %(rows)s) AS g
)
INSERT INTO catalog_recording ({columns})
SELECT
    (%(accounts)s::bigint[])[1 + floor(power(r_account, 1.7) * %(n_accounts)s)::int],
    'rec-' || lpad(g::text, 9, '0'),
    md5(g::text)::uuid::text,
    CASE WHEN r_null < 0.001 THEN NULL ELSE started END,
    CASE WHEN r_duration < 0.05 THEN NULL
         WHEN r_duration < 0.81 THEN round((10 * power(24, random()))::numeric, 3)
         WHEN r_duration < 0.97 THEN 240 + round((random() * 660)::numeric, 3)
         ELSE 900 + round((random() * 900)::numeric, 3) END,
    CASE WHEN r_direction < 0.55 THEN 'inbound' WHEN r_direction < 0.95 THEN 'outbound'
         WHEN r_direction < 0.99 THEN 'internal' ELSE 'unknown' END,
    CASE WHEN r_direction < 0.55 THEN customer ELSE agent END,
    CASE WHEN r_direction < 0.55 THEN agent ELSE customer END,
    jsonb_build_array(customer, agent),
    CASE WHEN r_format < 0.7 THEN 'mp3' WHEN r_format < 0.9 THEN 'wav' ELSE 'opus' END,
    CASE WHEN r_state < 0.85 THEN 'available' WHEN r_state < 0.88 THEN 'masked'
         WHEN r_state < 0.93 THEN 'discovered' WHEN r_state < 0.95 THEN 'downloading'
         WHEN r_state < 0.97 THEN 'failed' ELSE 'deleted' END,
    CASE WHEN r_state < 0.88 THEN 'recordings/bench/' || g || '.mp3' ELSE '' END,
    jsonb_build_object(
        'queue', (ARRAY['sales', 'support', 'billing', 'retention'])[1 + g %% 4],
        'userId', 'u-' || (g %% 5000)
    ),
    now(), now(){defaults}
FROM s
"""
GENERATED = [
    "account_id",
    "external_id",
    "vendor_call_id",
    "started_at",
    "duration",
    "direction",
    "caller",
    "callee",
    "participants",
    "format",
    "state",
    "storage_key",
    "metadata",
    "created_at",
    "updated_at",
]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_times(fn, arguments: list) -> list[float]:
    """Milliseconds per call of fn(*args), for each args in arguments."""
    times = []
    for args in arguments:
        start = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - start) * 1000)
    return times


def line(label: str, times: list[float]) -> dict:
    p50, p95 = percentile(times, 50), percentile(times, 95)
    print(f"  {label:<44} runs {len(times):>4}  p50 {p50:9.2f} ms  p95 {p95:9.2f} ms")
    return {"p50": p50, "p95": p95, "runs": len(times)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--naive-runs", type=int, default=20)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    base = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    url = os.environ.get(
        "BENCH_SEARCH_DATABASE_URL", base.rsplit("/", 1)[0] + "/portal_bench_search"
    )
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    setup_django(url)
    logging.getLogger("axes").setLevel(logging.WARNING)  # one line per test-client sign-in

    from django.db import connection

    print(f"Search benchmark — {stamp()} — {machine()}")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(f"database: PostgreSQL {version} ({url.rsplit('@', 1)[-1]})")
    accounts = ensure_catalog(args.rows, args.regenerate)
    rng = random.Random(args.seed)
    figures = {}
    figures.update(bench_free_text(accounts, rng, args.runs, args.naive_runs))
    figures.update(bench_deep_page(args.runs, args.naive_runs))
    summary(figures)


# --- the catalog ---------------------------------------------------------------------------


def ensure_catalog(rows: int, regenerate: bool) -> list[int]:
    from django.db import connection

    from recordings_portal.catalog.models import Recording
    from recordings_portal.vendors.models import VendorAccount

    accounts = [
        VendorAccount.objects.get_or_create(
            name=name, defaults={"kind": kind, "base_url": f"https://{kind}.bench.invalid/"}
        )[0].pk
        for kind, name in ACCOUNTS
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'catalog_recording'")
        estimate = cursor.fetchone()[0]
    present = Recording.objects.count() if abs(estimate - rows) < rows * 0.05 else estimate
    if present == rows and not regenerate:
        print(f"catalog: {rows:,} recordings already there (--regenerate to make them anew)")
        return accounts
    with timed() as took:
        generate(rows, accounts)
    print(f"catalog: {rows:,} recordings generated in {took['seconds']:.1f} s")
    return accounts


def generate(rows: int, accounts: list[int]) -> None:
    from django.db import connection, transaction

    from recordings_portal.catalog.models import Recording

    # Every other NOT NULL column gets its model default, so new fields do not break this.
    others = [
        field
        for field in Recording._meta.concrete_fields
        if not field.primary_key and field.column not in GENERATED and not field.null
    ]
    columns = ", ".join([*GENERATED, *(field.column for field in others)])
    defaults = "".join(f", %(default_{n})s" for n in range(len(others)))
    params = {"rows": rows, "accounts": accounts, "n_accounts": len(accounts)}
    for n, field in enumerate(others):
        params[f"default_{n}"] = field.get_db_prep_save(field.get_default(), connection)
    sql = GENERATE.format(columns=columns, defaults=defaults)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 4")
        # Whatever references recordings in this benchmark-only database goes with them.
        cursor.execute("TRUNCATE catalog_recording CASCADE")
        # Loading first and indexing after is several times faster than maintaining indexes.
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = 'catalog_recording'::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        )
        indexes = cursor.fetchall()
        with transaction.atomic():
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            with timed() as load:
                cursor.execute(sql, params)
                # Check the account foreign keys now: no index is built over pending events.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            print(f"  loaded in {load['seconds']:.1f} s; indexing…", flush=True)
            with timed() as build:
                for _, definition in indexes:
                    cursor.execute(definition)
            print(f"  {len(indexes)} indexes built in {build['seconds']:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE catalog_recording")


# --- free text with two filters ------------------------------------------------------------


def bench_free_text(accounts, rng, runs: int, naive_runs: int) -> dict:
    from django.core.paginator import Paginator
    from django.db.models import Q

    from recordings_portal.catalog.models import Recording
    from recordings_portal.catalog.selectors import (
        Filters,
        recordings_matching,
        search,
    )

    # Searches people make: 7 digits of a customer's number, in that customer's account (a
    # handful of matches); and, harder, 7 digits of an agent's number (thousands of matches).
    sample = _sample_calls(max(runs, naive_runs), rng)
    scenarios = [
        ("text", "customer's number", [(caller[5:12], acc) for caller, _, acc in sample]),
        ("common", "agent's number", [(callee[5:12], acc) for _, callee, acc in sample]),
    ]

    def ours(term, account):
        filters = Filters(q=term, account_id=account, state="available")
        return search(filters, sort="-started", size=PAGE_SIZE).rows

    def naive(term, account):
        text = Q()
        for name in SEARCHED:
            text |= Q(**{f"{name}__icontains": term})
        queryset = (
            Recording.objects.select_related("account")
            .filter(text, account_id=account, state="available")
            .order_by("-started_at", "-id")
        )
        return list(Paginator(queryset, PAGE_SIZE).page(1))

    def matches(term, account):
        queryset = recordings_matching(Filters(q=term, account_id=account, state="available"))
        return queryset.count()

    figures = {}
    for key, what, searches in scenarios:
        mine = [[r.pk for r in ours(*search)] for search in searches[:3]]
        assert mine == [[r.pk for r in naive(*search)] for search in searches[:3]], (
            "the naive query must find what ours finds"
        )
        counts = [matches(*search) for search in searches[:20]]
        print(
            f"free text + 2 filters, 7 digits of a {what}: e.g. q={searches[0][0]!r} "
            f"account={searches[0][1]} state=available; matches: median "
            f"{statistics.median(counts):,.0f}, max {max(counts):,}"
        )
        figures[f"{key}_ours"] = line(
            "portal (trigram index, capped count)", run_times(ours, searches[:runs])
        )
        figures[f"{key}_naive"] = line(
            "naive (icontains OR, Paginator COUNT(*))", run_times(naive, searches[:naive_runs])
        )
        urls = [(_text_url(term, account),) for term, account in searches[:runs]]
        figures[f"{key}_request"] = line(
            "portal, whole htmx request (test client)", run_times(_request, urls)
        )
    return figures


def _sample_calls(count: int, rng) -> list[tuple[str, str, int]]:
    from django.db import connection

    # TABLESAMPLE: a random sample of inbound calls (customer -> agent) without a sort.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT caller, callee, account_id FROM catalog_recording "
            "TABLESAMPLE BERNOULLI (1) REPEATABLE (%s) "
            "WHERE direction = 'inbound' AND state = 'available' LIMIT %s",
            [rng.randrange(1 << 30), count],
        )
        return cursor.fetchall()


def _text_url(term: str, account: int) -> str:
    from django.utils.http import urlencode

    return "/recordings/?" + urlencode({"q": term, "account": account, "state": "available"})


# --- page 5,000 ----------------------------------------------------------------------------


def bench_deep_page(runs: int, naive_runs: int) -> dict:
    from django.core.paginator import Paginator

    from recordings_portal.catalog.models import Recording
    from recordings_portal.catalog.selectors import (
        Filters,
        count_capped,
        recordings_matching,
        search,
    )

    queryset = recordings_matching(Filters())
    with timed() as walking:
        cursor = None
        for _ in range(DEEP_PAGE - 1):
            cursor = search(Filters(), sort="-started", size=PAGE_SIZE, after=cursor).next
    per_page = walking["seconds"] / (DEEP_PAGE - 1) * 1000
    print(
        f"page {DEEP_PAGE:,} newest first, {PAGE_SIZE} a page: cursor found by walking "
        f"{DEEP_PAGE - 1:,} pages in {walking['seconds']:.1f} s ({per_page:.2f} ms a page)"
    )

    def ours():
        # The count was taken on page 1 and comes with the cursor, as in the view.
        return search(Filters(), sort="-started", size=PAGE_SIZE, after=cursor).rows

    def ours_counting():
        page = search(Filters(), sort="-started", size=PAGE_SIZE, after=cursor)
        count_capped(queryset)
        return page.rows

    naive_queryset = Recording.objects.select_related("account").order_by("-started_at", "-id")

    def naive():
        return list(Paginator(naive_queryset, PAGE_SIZE).page(DEEP_PAGE))

    mine, theirs = [r.pk for r in ours()], [r.pk for r in naive()]
    assert mine == theirs, "page 5,000 by keyset and by OFFSET must be the same rows"
    figures = {
        "deep_ours": line("portal (keyset cursor, count carried)", run_times(ours, [()] * runs)),
        "deep_counting": line(
            "portal, counting again (capped)", run_times(ours_counting, [()] * runs)
        ),
        "deep_naive": line(
            "naive (OFFSET, Paginator COUNT(*))", run_times(naive, [()] * naive_runs)
        ),
    }
    url = "/recordings/?" + f"after={cursor.encode()}"
    figures["deep_request"] = line(
        "portal, whole htmx request (test client)", run_times(_request, [(url,)] * runs)
    )
    return figures


# --- the whole request ---------------------------------------------------------------------

_client = None


def _request(url: str) -> None:
    global _client
    if _client is None:
        _client = _make_client()
    response = _client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.status_code


def _make_client():
    from django.contrib.auth.models import Group, User
    from django.test import Client, override_settings

    # The results partial needs no collected static files; the page's base template does.
    override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    user, _ = User.objects.get_or_create(username="bench-search")
    user.groups.set(Group.objects.filter(name="supervisor"))
    client = Client()
    client.force_login(user)
    return client


def summary(figures: dict) -> None:
    print("summary (selector p95):")
    for kind, label in (
        ("text", "free text + 2 filters"),
        ("common", "  same, common term"),
        ("deep", f"page {DEEP_PAGE:,}"),
    ):
        ours, naive = figures[f"{kind}_ours"]["p95"], figures[f"{kind}_naive"]["p95"]
        verdict = "met" if ours < 25 and naive / ours >= 50 else "NOT met"
        print(
            f"  {label:<22} {ours:8.2f} ms vs naive {naive:9.2f} ms = {naive / ours:7.1f}x "
            f"(target: < 25 ms and >= 50x: {verdict})"
        )


if __name__ == "__main__":
    main()
