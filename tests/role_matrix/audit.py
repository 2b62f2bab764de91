from . import Page

AUDITOR = frozenset({"auditor"})


def a_user():
    from django.contrib.auth.models import User

    return User.objects.get_or_create(username="matrix-subject")[0].pk


PAGES = {
    "audit:log": Page(allowed=AUDITOR),
    # The page answers for any id: a recording purged from the catalog still has its history.
    "audit:recording": Page(allowed=AUDITOR, kwargs=(("recording_id", 1),)),
    "audit:user": Page(allowed=AUDITOR, kwargs=(("user_id", a_user),)),
    "audit:verify": Page(method="post", allowed=AUDITOR),
    # Auditors hold the export permission; tests/audit/test_views.py checks it on its own.
    "audit:export": Page(allowed=AUDITOR),
    "audit:export-manifest": Page(allowed=AUDITOR),
}
