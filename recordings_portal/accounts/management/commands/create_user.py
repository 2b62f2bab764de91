import getpass
import secrets

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from recordings_portal.accounts.roles import ROLES
from recordings_portal.accounts.services import UserInvalid, user_create

PROMPT_ATTEMPTS = 3


class Command(BaseCommand):
    help = (
        "Create a user with roles. The password is asked for without echo (twice), or with "
        "--generate-password made up and printed once; either way it must pass the portal's "
        "password validation."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            choices=ROLES,
            default=[],
            dest="roles",
            help="A role to give (repeat for several).",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--generate-password",
            action="store_true",
            help="Generate a strong password and print it once, instead of asking for one.",
        )

    def handle(self, *args, username, roles, email, first_name, last_name, **options):
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise CommandError(f"{email!r} is not an email address.") from None
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"A user named {username!r} exists already.")
        provisional = User(
            username=username, first_name=first_name, last_name=last_name, email=email
        )
        if options["generate_password"]:
            password = self._generated(provisional)
        else:
            password = self._prompted(provisional)
        try:
            user = user_create(
                username=username,
                first_name=first_name,
                last_name=last_name,
                email=email,
                roles=roles,
                password=password,
                via="create_user",
            )
        except UserInvalid as exc:
            raise CommandError(f"The user was not created: {exc}") from None
        described = ", ".join(sorted(set(roles))) or "no role"
        self.stdout.write(self.style.SUCCESS(f"Created {user.get_username()} ({described})."))
        if options["generate_password"]:
            # The only time it is shown: it is stored hashed.
            self.stdout.write(f"Password: {password}")
            self.stdout.write("It is not shown again: hand it over now.")

    @staticmethod
    def _generated(user: User) -> str:
        while True:
            password = secrets.token_urlsafe(18)
            try:
                validate_password(password, user)
            except ValidationError:
                continue  # vanishingly rare; another draw
            return password

    def _prompted(self, user: User) -> str:
        for _ in range(PROMPT_ATTEMPTS):
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("The two passwords differ. Try again.")
                continue
            try:
                validate_password(password, user)
            except ValidationError as exc:
                self.stderr.write("\n".join(exc.messages))
                continue
            return password
        raise CommandError("No acceptable password was given; nothing was created.")
