from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from recordings_portal.celery import app as celery_app

from . import chart, selectors

# What the dashboard shows at all: counts need one of these; recording content needs browsing.
DASHBOARD_PERMISSIONS = ("catalog.browse_recordings", "audit.view_access_log")


@require_GET
def home(request):
    """Counts for every role; recording content (failures list) only for those who may browse.

    Auditors see the chart, totals, storage, waiting counts and sync health, but no recording
    (not even a failed one's id or error): their work is the access log, not the calls.
    """
    user = request.user
    sees_counts = user.is_superuser or any(user.has_perm(p) for p in DASHBOARD_PERMISSIONS)
    if not sees_counts:
        return render(request, "dashboard/home.html", {"sees_counts": False})
    accounts, totals = selectors.account_summaries()
    context = {"sees_counts": True, "accounts": accounts, "totals": totals}
    if accounts:
        buckets = selectors.daily_counts()
        kinds = selectors.kinds_in(buckets)
        context.update(
            buckets=buckets,
            kinds=kinds,
            last_day=buckets[-1].day,
            window_total=sum(bucket.total for bucket in buckets),
            chart=chart.layout(buckets, kinds),
            table_rows=[(b, [b.counts.get(kind, 0) for kind, _ in kinds]) for b in buckets],
        )
    if user.has_perm("catalog.browse_recordings"):
        failures = selectors.recent_failures()
        for recording in failures:
            recording.portal_url = reverse("catalog:detail", args=[recording.pk])
        context["failures"] = failures
    return render(request, "dashboard/home.html", context)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """For load balancers and monitors: 200 when the database and the broker answer, else 503."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    status = 200 if all(checks.values()) else 503
    body = {name: "ok" if ok else "unavailable" for name, ok in checks.items()}
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", **body}, status=status)
