"""What the API accepts and answers; the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from django.urls import reverse
from django.utils import timezone
from ninja import Field, Schema
from pydantic import model_validator

from recordings_portal.catalog.models import Direction, Recording, RecordingState
from recordings_portal.catalog.selectors import DEFAULT_SORT, Filters
from recordings_portal.vendors.kinds import KINDS

KindName = Literal[tuple(KINDS)]  # type: ignore[valid-type]
SortName = Literal["-started", "started", "-duration", "duration"]
MAX_LIMIT = 100


class RecordingQuery(Schema):
    """The search page's filters, under the same names (see /recordings/)."""

    q: str = Field("", max_length=200, description="Free text: numbers, call and session ids, …")
    account: int | None = Field(None, description="Vendor account id")
    kind: KindName | None = Field(None, description="Vendor kind")
    started_from: date | None = Field(None, description="Call started on or after this day")
    started_to: date | None = Field(None, description="Call started on or before this day")
    duration_min: float | None = Field(None, ge=0, description="Seconds, at least")
    duration_max: float | None = Field(None, ge=0, description="Seconds, at most")
    direction: Direction | None = None
    format: str | None = Field(None, pattern=r"^[A-Za-z0-9]{1,10}$", description="e.g. mp3")
    state: RecordingState | None = None
    masked: bool | None = Field(None, description="Only masked (true) or only unmasked (false)")
    sort: SortName = DEFAULT_SORT
    limit: int = Field(25, ge=1, le=MAX_LIMIT, description="Recordings per page")
    cursor: str | None = Field(None, max_length=300, description="`next` of the previous page")

    @model_validator(mode="after")
    def ranges_in_order(self):
        if self.started_from and self.started_to and self.started_from > self.started_to:
            raise ValueError("started_to is before started_from")
        low, high = self.duration_min, self.duration_max
        if low is not None and high is not None and low > high:
            raise ValueError("duration_max is below duration_min")
        return self

    def filters(self) -> Filters:
        return Filters(
            q=self.q.strip(),
            account_id=self.account,
            kind=self.kind or "",
            started_from=_midnight(self.started_from),
            started_before=_midnight(self.started_to + timedelta(days=1))
            if self.started_to
            else None,
            duration_min=self.duration_min,
            duration_max=self.duration_max,
            direction=self.direction or "",
            format=(self.format or "").lower(),
            state=self.state or "",
            masked=self.masked,
        )


def _midnight(day: date | None) -> datetime | None:
    """Days are the portal's time zone's days, as on the search page."""
    return timezone.make_aware(datetime.combine(day, time.min)) if day else None


class AccountOut(Schema):
    id: int
    name: str
    kind: str


class RecordingOut(Schema):
    id: int
    account: AccountOut
    external_id: str
    vendor_call_id: str
    started_at: datetime | None
    duration: float | None = Field(description="Seconds")
    direction: Direction
    caller: str
    callee: str
    format: str
    channels: int | None
    sample_rate: int | None
    size: int | None = Field(description="Bytes of the stored file")
    sha256: str = Field(description="Of the stored file")
    state: RecordingState
    masked: bool
    legal_hold: bool
    playable: bool = Field(description="Its audio can be fetched from media_url")
    downloaded_at: datetime | None
    url: str = Field(description="This recording in the API")
    media_url: str | None = Field(description="Its audio, when playable")
    page_url: str = Field(description="Its page in the portal, with the player")

    @staticmethod
    def resolve_masked(obj: Recording) -> bool:
        return obj.state == RecordingState.MASKED

    @staticmethod
    def resolve_url(obj: Recording) -> str:
        return reverse("api:v1:get_recording", kwargs={"recording_id": obj.pk})

    @staticmethod
    def resolve_page_url(obj: Recording) -> str:
        return reverse("catalog:detail", args=[obj.pk])

    @staticmethod
    def resolve_media_url(obj: Recording) -> str | None:
        if not obj.playable:
            return None
        return reverse("api:v1:get_recording_media", kwargs={"recording_id": obj.pk})


class RecordingDetailOut(RecordingOut):
    participants: list[str]
    vendor_state: str
    metadata: dict
    last_error: str
    created_at: datetime
    updated_at: datetime


class RecordingPage(Schema):
    items: list[RecordingOut]
    next: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class Problem(Schema):
    detail: str


class ValidationProblem(Schema):
    detail: list[dict] = Field(description="What did not validate, and where")
