from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "recordings_portal.audit"

    def ready(self):
        from . import receivers  # noqa: F401 - connects the login/logout receivers
