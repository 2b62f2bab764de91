from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, apps=None, **kwargs):
    from django.apps import apps as global_apps

    from .roles import sync_role_groups

    sync_role_groups(apps or global_apps)


class AccountsConfig(AppConfig):
    name = "recordings_portal.accounts"

    def ready(self):
        # Later migrations add permissions; keep the role groups holding them after every
        # migrate (and test flush). Every app's signal, so the last one sees all permissions.
        post_migrate.connect(_sync_roles, dispatch_uid="accounts.sync_roles")
        from . import throttle  # noqa: F401 - connects the lockout receiver
