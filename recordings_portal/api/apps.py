from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "recordings_portal.api"
    label = "api"
    verbose_name = "JSON API"
