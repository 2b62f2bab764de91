from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "recordings_portal.catalog"
