from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "recordings_portal.dashboard"
