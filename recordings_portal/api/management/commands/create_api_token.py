"""manage.py create_api_token USERNAME [--name NAME]: a token for a user, printed once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from recordings_portal.api.tokens import TokenLimitReached, token_create
from recordings_portal.audit.log import record


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it cannot be shown again)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="created on the command line")

    def handle(self, username, name, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"{username} is deactivated: a token of theirs would not work.")
        try:
            with transaction.atomic():
                token, raw = token_create(user=user, name=name[:100])
                details = {"name": token.name, "prefix": token.prefix, "user": username}
                details["via"] = "command line"
                record("api_token.create", obj=token, details=details)
        except TokenLimitReached as exc:
            raise CommandError(str(exc)) from None
        if not user.has_perm("catalog.browse_recordings"):
            self.stderr.write(
                self.style.WARNING(
                    f"{username} may not browse recordings: every API call with this token "
                    "will be refused (403) until they get a role that may."
                )
            )
        self.stderr.write(f"Token #{token.pk} for {username}; store it now, it is not kept:")
        self.stdout.write(raw)
