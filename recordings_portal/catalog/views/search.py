"""The search page: one search box, filters, and keyset pages of results.

A plain GET form: the URL carries every filter, so a search is bookmarkable and works without
JavaScript. htmx re-renders only the results (the `results` partial) as the form changes and
pushes the canonical URL; Back asks the server again for the whole page (the results are
marked hx-history="false", so htmx keeps no copy of them in localStorage either).

Access log: every search is recorded (`recording.search`: the query, the filters, the sort
and how many results). Not recorded, because they are not new searches: following a
Next/Previous link, and repeating the user's last search within a minute (the page reloaded,
the page size changed, Back to the page just left).
"""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from recordings_portal.accounts.roles import capability
from recordings_portal.audit.log import record
from recordings_portal.audit.models import AccessEvent
from recordings_portal.vendors.kinds import KIND_CHOICES
from recordings_portal.vendors.models import VendorAccount

from .. import selectors
from ..forms import MASKED_CHOICES, SearchForm
from ..models import Direction, RecordingState
from ..selectors import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SORT,
    Cursor,
    InvalidCursor,
    Page,
    catalog_has_recordings,
)

TEMPLATE = "catalog/search.html"
CURSOR_PARAMS = ("after", "before")
DEFAULTS = {"sort": DEFAULT_SORT, "size": str(DEFAULT_PAGE_SIZE)}
# The same search again within this time is not a new search (see _repeats_last_search).
REPEAT_WINDOW = timedelta(seconds=60)


@capability("catalog.browse_recordings")
@require_GET
@never_cache  # phone numbers and call ids: no copies in shared or browser caches
def search(request):
    accounts = list(VendorAccount.objects.order_by("name").values_list("id", "name"))
    form = SearchForm(request.GET, accounts=accounts)
    notices = form.notices()
    filters, sort, size = form.filters(), form.sort_key(), form.page_size()
    after = _cursor(request, "after", sort, notices)
    # Both given is no link the portal makes: the forward one wins.
    before = None if after else _cursor(request, "before", sort, notices)
    page = selectors.search(filters, sort=sort, size=size, after=after, before=before)
    count, more = page.count, page.more
    empty_catalog = (
        not page.rows and page.first and (not filters.active or not catalog_has_recordings())
    )
    if not any(name in request.GET for name in CURSOR_PARAMS):
        _record_search(request, form, sort, count, more)

    params = _params(request.GET)
    for row in page.rows:
        row.duration_label = clock(row.duration)
    context = {
        "form": form,
        "page": page,
        "rows": page.rows,
        "count": count,
        "more": more,
        "sort": sort,
        "notices": notices,
        "chips": _chips(form, params, dict(accounts)),
        "empty_catalog": empty_catalog,
        "links": _links(params, page),
        "bulk": _bulk_actions(request.user),
    }
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, f"{TEMPLATE}#results" if partial else TEMPLATE, context)
    # One URL, two bodies (page or partial): caches must tell them apart.
    patch_vary_headers(response, ["HX-Request"])
    if partial:
        push_url(response, _url(params + _cursor_params(request)))
    return response


def _bulk_actions(user) -> dict | None:
    """Which bulk buttons the results offer (the confirmation pages check again), or None."""
    actions = {
        "delete": user.has_perm("compliance.delete_recordings"),
        "hold": user.has_perm("compliance.hold_recordings"),
    }
    return actions if any(actions.values()) else None


def _cursor(request, name: str, sort: str, notices: list[str]) -> Cursor | None:
    token = request.GET.get(name, "")
    if not token:
        return None
    try:
        return Cursor.decode(token, sort)
    except InvalidCursor as exc:
        notices.append(f"{exc} Showing the first page.")
        return None


def _record_search(request, form: SearchForm, sort: str, count: int, more: bool) -> None:
    valid = form.cleaned_data
    search = {
        "query": valid.get("q") or "",
        "filters": {
            name: form.data[name]
            for name in SearchForm.FILTER_FIELDS
            if valid.get(name) not in (None, "") and form.data.get(name)
        },
        "sort": sort,
    }
    if _repeats_last_search(request.user, search):
        return
    details = {**search, "ignored": sorted(form.errors), "results": count, "more_results": more}
    record("recording.search", request=request, details=details)


def _repeats_last_search(user, search: dict) -> bool:
    """The same query, filters and sort as this user's last search, moments ago: e.g. the page
    reloaded, the page size changed, Back to a page just left."""
    since = timezone.now() - REPEAT_WINDOW
    last = (
        AccessEvent.objects.filter(actor=user, action="recording.search", at__gte=since)
        .order_by("-id")
        .values_list("details", flat=True)
        .first()
    )
    return last is not None and all(last.get(key) == value for key, value in search.items())


# --- URLs ----------------------------------------------------------------------------------


def _params(data) -> list[tuple[str, str]]:
    """The search's parameters, in form order, without empty and default values."""
    params = []
    for name in SearchForm.base_fields:
        value = data.get(name, "")
        if value.strip() and DEFAULTS.get(name) != value:
            params.append((name, value))
    return params


def _cursor_params(request) -> list[tuple[str, str]]:
    return [(name, request.GET[name]) for name in CURSOR_PARAMS if request.GET.get(name)]


def _url(params: list[tuple[str, str]]) -> str:
    base = reverse("catalog:search")
    return f"{base}?{urlencode(params)}" if params else base


def _links(params: list[tuple[str, str]], page: Page) -> dict[str, str]:
    links = {"clear": _url([]), "first": _url(params)}
    if page.next is not None:
        links["next"] = _url([*params, ("after", page.next.encode())])
    if page.previous is not None:
        links["previous"] = _url([*params, ("before", page.previous.encode())])
    elif not page.first:
        links["previous"] = links["first"]
    return links


def _chips(form: SearchForm, params, account_names: dict[int, str]) -> list[dict]:
    """The filters in force, each with a link to the same search without it."""
    valid = form.cleaned_data
    labels = {
        "account": lambda value: account_names.get(value, value),
        "kind": dict(KIND_CHOICES).get,
        "direction": dict(Direction.choices).get,
        "state": dict(RecordingState.choices).get,
        "masked": dict(MASKED_CHOICES).get,
        "duration_min": clock,
        "duration_max": clock,
    }
    chips = []
    for name in SearchForm.FILTER_FIELDS:
        value = valid.get(name)
        if value in (None, ""):
            continue
        shown = labels.get(name, str)(value)
        without = [(key, v) for key, v in params if key != name]
        chips.append({"label": form.fields[name].label, "value": shown, "url": _url(without)})
    return chips


def clock(seconds: float | None) -> str:
    """75.4 -> "1:15", 3723 -> "1:02:03"; unknown -> "—"."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
