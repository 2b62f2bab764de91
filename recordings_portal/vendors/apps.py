from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "recordings_portal.vendors"
