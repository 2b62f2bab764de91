from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "recordings_portal.audit"
