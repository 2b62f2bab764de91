from django.urls import path

from . import views
from .api import api

app_name = "api"
urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.revoke, name="token-revoke"),
    path("v1/", api.urls),
]
