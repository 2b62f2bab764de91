from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "recordings_portal.compliance"
