from django.urls import path  # noqa: F401 - each views module adds its patterns below

app_name = "catalog"
urlpatterns = [
    # views/search.py: the search page, and its results partial for htmx
    # views/detail.py: one recording's page with the player
    # views/media.py: the audio (Range-aware), downloads, waveform peaks
]
