from django.urls import path

from .views import detail, media, search

app_name = "catalog"
urlpatterns = [
    # views/search.py: the search page, and its results partial for htmx
    path("", search.search, name="search"),
    # views/detail.py: one recording's page with the player
    # views/media.py: the audio (Range-aware), downloads, waveform peaks
    path("<int:pk>/", detail.recording_detail, name="detail"),
    path("<int:pk>/audio", media.stream, name="stream"),
    path("<int:pk>/audio/authorisation", media.stream_authorisation, name="stream_authorisation"),
    path("<int:pk>/download", media.download, name="download"),
    path("<int:pk>/peaks", media.peaks, name="peaks"),
]
