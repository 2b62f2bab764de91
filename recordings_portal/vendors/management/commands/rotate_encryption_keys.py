from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError

from recordings_portal.vendors.services import accounts_rotate_encryption


class Command(BaseCommand):
    help = (
        "Re-encrypt all vendor credentials under the first key of FERNET_KEYS. "
        "Rotation: put a new key first in FERNET_KEYS (keep the old ones after it), run this, "
        "then remove the old keys."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--generate-key",
            action="store_true",
            help="Only print a fresh key to put first in FERNET_KEYS.",
        )

    def handle(self, *args, generate_key=False, **options):
        if generate_key:
            self.stdout.write(Fernet.generate_key().decode())
            return
        rotated, unreadable = accounts_rotate_encryption()
        self.stdout.write(f"Re-encrypted the credentials of {rotated} vendor account(s).")
        if unreadable:
            raise CommandError(
                "No configured key decrypts the credentials of: "
                + ", ".join(unreadable)
                + ". Add the key they were encrypted with to FERNET_KEYS and run again."
            )
