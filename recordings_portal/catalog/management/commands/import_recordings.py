from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recordings_portal.catalog.services.imports import MAX_BYTES, ImportFailed, recordings_import
from recordings_portal.vendors.models import VendorAccount

PROBLEMS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import the recordings a file names into a vendor account's catalog: a Kaleyra call "
        "report (CSV), or Kore.ai session ids (one per line, or a CSV with a sessionId column). "
        "New recordings are queued for download."
    )

    def add_arguments(self, parser):
        parser.add_argument("account", help="The vendor account's name, as the portal shows it.")
        parser.add_argument("file", type=Path, help="The file to import.")

    def handle(self, *args, account: str, file: Path, **options):
        vendor_account = VendorAccount.objects.filter(name=account).first()
        if vendor_account is None:
            names = ", ".join(VendorAccount.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No vendor account is named {account!r} (accounts: {names}).")
        try:
            size = file.stat().st_size
            if size > MAX_BYTES:
                # Refused before reading it into memory; the service says the same.
                raise CommandError(
                    f"{file} is {size / 2**20:.1f} MB; files up to {MAX_BYTES // 2**20} MB are "
                    "imported. Split it and import the parts."
                )
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
        try:
            result = recordings_import(vendor_account, data, file.name)
        except ImportFailed as exc:
            self._lines(exc.problems)
            raise CommandError(f"Nothing was imported: {exc.message}") from exc
        self._lines(result.problems)
        self.stdout.write(f"Imported {file.name} into {vendor_account.name}: {result.summary()}")

    def _lines(self, problems):
        for problem in problems[:PROBLEMS_SHOWN]:
            self.stderr.write(f"line {problem.line}: {problem.message}")
        if len(problems) > PROBLEMS_SHOWN:
            self.stderr.write(f"... and {len(problems) - PROBLEMS_SHOWN} more problems.")
