from django.urls import include, path

from recordings_portal.dashboard.views import healthz
from recordings_portal.vendors import webhooks

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("hooks/<uuid:public_id>/<path:event_path>", webhooks.receive, name="vendor-webhook"),
    path("accounts/", include("recordings_portal.accounts.urls")),
    path("recordings/", include("recordings_portal.catalog.urls")),
    path("vendors/", include("recordings_portal.vendors.urls")),
    path("compliance/", include("recordings_portal.compliance.urls")),
    path("audit/", include("recordings_portal.audit.urls")),
    path("api/", include("recordings_portal.api.urls")),
    path("", include("recordings_portal.dashboard.urls")),
]

handler403 = "recordings_portal.dashboard.errors.forbidden"
handler404 = "recordings_portal.dashboard.errors.not_found"
handler500 = "recordings_portal.dashboard.errors.server_error"
