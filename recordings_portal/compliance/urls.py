from django.urls import path

from . import views

app_name = "compliance"
urlpatterns = [
    path("", views.index, name="index"),
    path("queue/", views.queue, name="queue"),
    path("my-requests/", views.my_requests, name="my_requests"),
    path("masks/<int:pk>/", views.mask_detail, name="mask_detail"),
    path("masks/<int:pk>/approve/", views.mask_approve, name="mask_approve"),
    path("masks/<int:pk>/reject/", views.mask_reject, name="mask_reject"),
    path("masks/<int:pk>/vendor/retry/", views.mask_vendor_retry, name="mask_vendor_retry"),
    path("masks/<int:pk>/vendor/give-up/", views.mask_vendor_give_up, name="mask_vendor_give_up"),
    # One recording: its compliance page, and what the detail page and the player post to.
    path("recordings/<int:pk>/", views.recording_page, name="recording"),
    path("recordings/<int:pk>/mask/", views.mask_new, name="mask_new"),
    path("recordings/<int:pk>/delete/", views.delete, name="delete"),
    path("recordings/<int:pk>/hold/", views.hold, name="hold"),
    path("recordings/<int:pk>/lift/", views.lift, name="lift"),
    path("deletions/", views.deletions, name="deletions"),
    path("deletions/<int:pk>/retry/", views.deletion_retry, name="deletion_retry"),
    path("deletions/<int:pk>/give-up/", views.deletion_give_up, name="deletion_give_up"),
    # Bulk actions on ids the search page posts: a confirmation page, then the action.
    path("bulk/delete/", views.bulk_delete_confirm, name="bulk_delete_confirm"),
    path("bulk/delete/apply/", views.bulk_delete, name="bulk_delete"),
    path("bulk/hold/", views.bulk_hold_confirm, name="bulk_hold_confirm"),
    path("bulk/hold/apply/", views.bulk_hold, name="bulk_hold"),
    path("holds/", views.holds, name="holds"),
    path("retention/", views.retention, name="retention"),
    path("retention/preview/", views.retention_preview_page, name="retention_preview"),
    path("retention/<int:account_pk>/", views.retention_edit, name="retention_edit"),
]
