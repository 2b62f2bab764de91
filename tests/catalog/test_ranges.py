"""Range and conditional requests as pure functions (RFC 9110 §13, §14).

The same cases against real stored files, byte for byte, are in test_media.py.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils.http import http_date

from recordings_portal.catalog.ranges import first_byte, parse_range, plan

SIZE = 10_000
ETAG = '"' + "ab" * 32 + '"'
MODIFIED = datetime(2026, 1, 14, 9, 30, 12, 345678, tzinfo=UTC)
MODIFIED_HTTP = http_date(MODIFIED.timestamp())


def decide(headers=None, method="GET", size=SIZE, etag=ETAG, modified=MODIFIED):
    return plan(method, headers or {}, size, etag, modified)


# --- Range -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-1", 0, 1),  # the probe Safari sends first
        ("bytes=0-0", 0, 0),
        ("bytes=100-", 100, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=100-199", 100, 199),
        ("bytes=9999-", 9999, 9999),
        ("bytes=10-99999999999999999999", 10, SIZE - 1),  # last-pos past the end is clipped
        ("bytes=-99999", 0, SIZE - 1),  # a suffix longer than the file is the whole file
        ("BYTES=5-6", 5, 6),  # the unit is case-insensitive
        ("bytes= 5-6 ", 5, 6),
        ("bytes=5-6,", 5, 6),  # empty list elements are ignored
    ],
)
def test_it_plans_a_single_range(header, first, last):
    decision = decide({"Range": header})
    assert (decision.status, decision.first, decision.last) == (206, first, last)
    assert decision.length == last - first + 1
    assert decision.content_range == f"bytes {first}-{last}/{SIZE}"


@pytest.mark.parametrize("header", ["bytes=10000-", "bytes=20000-30000", "bytes=-0"])
def test_it_refuses_what_no_byte_of_the_file_satisfies(header):
    decision = decide({"Range": header})
    assert decision.status == 416
    assert decision.content_range == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=5-1",  # last before first: invalid, so the whole header is
        "bytes=abc",
        "bytes=1-2-3",
        "bytes=--5",
        "bytes=+1-2",
        "bytes=",
        "bytes 0-1",
        "items=0-1",  # a unit we do not serve
        "bytes=0-1,5-1",
        "bytes=\u0661-\u0662",  # non-ASCII digits are not digits here
        "bytes=" + ",".join(f"{i}-{i}" for i in range(100)),  # too many ranges
        "bytes=" + "9" * 2000 + "-",  # too long to bother
    ],
)
def test_it_ignores_a_malformed_range_header(header):
    assert decide({"Range": header}).status == 200


def test_it_answers_several_ranges_with_the_whole_file():
    decision = decide({"Range": "bytes=0-1,100-199"})
    assert (decision.status, decision.first, decision.last) == (200, 0, SIZE - 1)


def test_several_ranges_of_which_one_is_satisfiable_are_that_one():
    decision = decide({"Range": "bytes=0-1,20000-"})
    assert (decision.status, decision.first, decision.last) == (206, 0, 1)


def test_it_ignores_range_on_an_empty_file_and_on_other_methods():
    assert decide({"Range": "bytes=0-1"}, size=0).status == 200
    assert decide({"Range": "bytes=0-1"}, method="POST").status == 200


def test_head_is_planned_like_get():
    assert decide({"Range": "bytes=0-1"}, method="HEAD").status == 206


def test_header_names_are_case_insensitive():
    assert decide({"range": "bytes=0-1"}).status == 206


def test_parse_range_tells_ignore_from_unsatisfiable():
    assert parse_range("bytes=x", SIZE) is None
    assert parse_range("bytes=99999-", SIZE) == []
    assert parse_range("bytes=0-1, -2", SIZE) == [(0, 1), (SIZE - 2, SIZE - 1)]


@pytest.mark.parametrize(
    ("header", "first"),
    [(None, 0), ("bytes=0-", 0), ("bytes=500-", 500), ("bytes=-100", SIZE - 100), ("junk", 0)],
)
def test_first_byte(header, first):
    assert first_byte(header, SIZE) == first


# --- If-Range ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        (ETAG, 206),
        ('"something-else"', 200),
        ("W/" + ETAG, 200),  # a weak tag never satisfies If-Range (strong comparison)
        (MODIFIED_HTTP, 206),  # exactly Last-Modified
        (http_date((MODIFIED - timedelta(seconds=1)).timestamp()), 200),
        (http_date((MODIFIED + timedelta(days=1)).timestamp()), 200),  # only exact dates
        ("not a date", 200),
    ],
)
def test_if_range_keeps_the_range_only_for_the_same_file(if_range, status):
    assert decide({"Range": "bytes=0-1", "If-Range": if_range}).status == status


def test_if_range_by_date_needs_a_last_modified():
    headers = {"Range": "bytes=0-1", "If-Range": MODIFIED_HTTP}
    assert decide(headers, modified=None).status == 200


# --- If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since ---------------------


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        (ETAG, 304),
        ("W/" + ETAG, 304),  # weak comparison
        (f'"other", {ETAG}', 304),
        ("*", 304),
        ('"other"', 200),
        ("garbage", 200),
    ],
)
def test_if_none_match(if_none_match, status):
    assert decide({"If-None-Match": if_none_match}).status == status


def test_not_modified_wins_over_range():
    assert decide({"If-None-Match": ETAG, "Range": "bytes=0-1"}).status == 304


def test_if_modified_since():
    assert decide({"If-Modified-Since": MODIFIED_HTTP}).status == 304
    earlier = http_date((MODIFIED - timedelta(hours=1)).timestamp())
    assert decide({"If-Modified-Since": earlier}).status == 200
    assert decide({"If-Modified-Since": "yesterday"}).status == 200


def test_if_none_match_outranks_if_modified_since():
    headers = {"If-None-Match": '"other"', "If-Modified-Since": MODIFIED_HTTP}
    assert decide(headers).status == 200


def test_if_match_and_if_unmodified_since():
    assert decide({"If-Match": ETAG}).status == 200
    assert decide({"If-Match": '"other"'}).status == 412
    assert decide({"If-Match": "W/" + ETAG}).status == 412  # strong comparison
    earlier = http_date((MODIFIED - timedelta(hours=1)).timestamp())
    assert decide({"If-Unmodified-Since": earlier}).status == 412
    assert decide({"If-Unmodified-Since": MODIFIED_HTTP}).status == 200
