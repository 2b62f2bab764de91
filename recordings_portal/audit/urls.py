from django.urls import path

from . import views

app_name = "audit"
urlpatterns = [
    path("", views.log, name="log"),
    path("recordings/<int:recording_id>/", views.recording, name="recording"),
    path("users/<int:user_id>/", views.user, name="user"),
    path("verify/", views.verify_chain, name="verify"),
    path("export/", views.export, name="export"),
    path("export/manifest/", views.export_manifest, name="export-manifest"),
]
