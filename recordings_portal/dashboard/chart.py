"""The geometry of the dashboard's stacked bar chart, drawn as inline SVG by the template.

Server-side, so the page needs no chart library and no script; colours come from CSS classes
(one per vendor kind), never from style attributes, which a strict CSP would refuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .selectors import DayBucket

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26  # margins for the axis labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BAR_FILL = 0.72  # share of each day's slot the bar covers
LABEL_EVERY = 7  # days between x-axis labels, counted back from today
STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


@dataclass(frozen=True)
class Segment:
    kind: str
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Bar:
    bucket: DayBucket
    segments: list[Segment]
    label_x: float
    show_label: bool


@dataclass(frozen=True)
class Gridline:
    value: int
    y: float


def nice_ceiling(value: int) -> int:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^n) not below value,
    so the tallest bar fills most of the height and the gridline labels stay readable."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in STEPS:
        top = step * power
        if top >= value and top == int(top):
            return int(top)
    return 10 * power  # pragma: no cover - the loop always returns


def layout(buckets: list[DayBucket], kinds: list[tuple[str, str]]) -> dict:
    top = nice_ceiling(max((bucket.total for bucket in buckets), default=0))
    slot = PLOT_W / max(len(buckets), 1)
    width = slot * BAR_FILL
    bars = []
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + (slot - width) / 2
        base, segments = TOP + PLOT_H, []
        for kind, label in kinds:
            count = bucket.counts.get(kind, 0)
            if not count:
                continue
            height = PLOT_H * count / top
            base -= height
            segments.append(Segment(kind, label, count, x, base, width, height))
        from_today = len(buckets) - 1 - index
        bars.append(Bar(bucket, segments, x + width / 2, from_today % LABEL_EVERY == 0))
    gridlines = [
        Gridline(value, TOP + PLOT_H - PLOT_H * value / top) for value in (0, top // 2, top)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "axis_y": TOP + PLOT_H,
        "label_y": HEIGHT - 8,
        "bars": bars,
        "gridlines": [line for i, line in enumerate(gridlines) if i == 0 or line.value],
    }
