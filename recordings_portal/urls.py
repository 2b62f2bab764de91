from django.urls import include, path

from recordings_portal.dashboard.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("recordings_portal.accounts.urls")),
    path("", include("recordings_portal.dashboard.urls")),
]

handler403 = "recordings_portal.dashboard.errors.forbidden"
handler404 = "recordings_portal.dashboard.errors.not_found"
handler500 = "recordings_portal.dashboard.errors.server_error"
