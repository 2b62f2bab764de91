from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Commands that run the demo and the simulated vendors; no models, nothing in production."""

    name = "recordings_portal.demo"
