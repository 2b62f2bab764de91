"""Spans: checked against the recording, merged and split so none overlap on a channel."""

import pytest

from recordings_portal.compliance.services import Refused
from recordings_portal.compliance.services.spans import (
    clock,
    on_masked_timeline,
    parse_clock,
    spans_normalise,
    trim_validate,
)


def span(start, end, channel="both"):
    return {"start": start, "end": end, "channel": channel}


def test_it_merges_overlaps_and_splits_what_both_sides_share():
    raw = [span(1, 5, "caller"), span(3, 8, "callee"), span(10, 12), span(11, 13, "caller")]
    assert spans_normalise(raw, duration=20, channels=2) == [
        span(1.0, 3.0, "caller"),
        span(3.0, 5.0, "both"),
        span(5.0, 8.0, "callee"),
        span(10.0, 12.0, "both"),
        span(12.0, 13.0, "caller"),
    ]


def test_it_joins_touching_spans_of_a_side():
    raw = [span(2, 3, "callee"), span(1, 2, "callee")]
    assert spans_normalise(raw, duration=5, channels=2) == [span(1.0, 3.0, "callee")]


def test_it_masks_both_sides_of_a_mono_recording():
    assert spans_normalise([span(1, 2, "caller")], duration=5, channels=1) == [span(1.0, 2.0)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([span(3, 2)], "must end after it starts"),
        ([span(-1, 2)], "starts before the recording"),
        ([span(1, 30)], "after the recording's end"),
        ([span("a", 2)], "not a number"),
        ([span(1, 2, "agent")], "caller, callee or both"),
        (["1-2"], "not an object"),
    ],
)
def test_it_refuses_spans_that_do_not_fit(raw, message):
    with pytest.raises(Refused, match=message):
        spans_normalise(raw, duration=20, channels=2)


def test_it_forgives_a_selection_a_hair_past_the_end():
    assert spans_normalise([span(19, 20.04)], duration=20, channels=2) == [span(19.0, 20.0)]


def test_it_checks_the_trim_and_drops_one_that_keeps_everything():
    assert trim_validate([2, 10], duration=20) == [2.0, 10.0]
    assert trim_validate([0, 20], duration=20) is None
    assert trim_validate(None, duration=20) is None
    with pytest.raises(Refused):
        trim_validate([5, 4], duration=20)


def test_it_places_spans_on_the_trimmed_files_timeline_with_channel_numbers():
    spans = [span(1, 5, "caller"), span(6, 7, "callee"), span(15, 16)]
    assert on_masked_timeline(spans, [2, 10]) == [
        {"start": 0.0, "end": 3.0, "channel": 0},
        {"start": 4.0, "end": 5.0, "channel": 1},
    ]
    assert on_masked_timeline([span(1, 2)], None) == [{"start": 1.0, "end": 2.0, "channel": None}]


def test_it_reads_and_writes_times_as_people_do():
    assert [parse_clock(t) for t in ("75", "75.5", "1:15", "1:02:05.25")] == [
        75,
        75.5,
        75,
        3725.25,
    ]
    assert [clock(s) for s in (12.5, 75, 3725.25)] == ["0:12.5", "1:15", "1:02:05.25"]
    for bad in ("", "1:", "a:10", "1:75", "-3"):
        with pytest.raises(ValueError):
            parse_clock(bad)
