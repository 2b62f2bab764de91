from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "recordings_portal.accounts"
