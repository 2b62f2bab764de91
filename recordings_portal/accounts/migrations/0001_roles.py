"""The four role groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; make them exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from recordings_portal.accounts.roles import sync_role_groups

    sync_role_groups(apps)


def drop_roles(apps, schema_editor):
    from recordings_portal.accounts.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("vendors", "0001_initial"),
        ("catalog", "0001_initial"),
        ("audit", "0001_initial"),
    ]
    operations = [migrations.RunPython(create_roles, drop_roles)]
