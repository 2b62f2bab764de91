import getpass
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from recordings_portal.audit.log import record
from recordings_portal.vendors.kinds import KINDS
from recordings_portal.vendors.services import AccountInvalid, account_create

ENV_PREFIX = "VENDOR_SECRET_"


def key_values(pairs: list[str], what: str) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--{what} takes KEY=VALUE, not {pair!r}.")
        values[key.strip()] = value
    return values


class Command(BaseCommand):
    help = (
        "Add a vendor account. Secrets come from --secret KEY=VALUE, from KEY=- (asked for "
        f"without echo), or from environment variables {ENV_PREFIX}<KEY> (e.g. "
        f"{ENV_PREFIX}API_KEY); the last two keep them out of the shell history."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(KINDS), help="The vendor.")
        parser.add_argument("name", help="A name unique among the portal's accounts.")
        parser.add_argument("--base-url", required=True, help="The vendor's API address.")
        parser.add_argument(
            "--config", action="append", default=[], metavar="KEY=VALUE", help="A setting."
        )
        parser.add_argument(
            "--secret",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A credential; KEY=- asks for it without echoing.",
        )
        parser.add_argument(
            "--interval", type=int, default=60, metavar="MINUTES", help="Minutes between syncs."
        )
        parser.add_argument("--disabled", action="store_true", help="Add it without syncing it.")

    def handle(self, *args, kind, name, base_url, config, secret, interval, disabled, **options):
        spec = KINDS[kind]
        if interval < 1:
            raise CommandError("--interval must be at least 1 minute.")
        secrets = key_values(secret, "secret")
        for field in spec.secrets:
            if secrets.get(field.name) == "-":
                secrets[field.name] = getpass.getpass(f"{field.label} ({field.name}): ")
            elif field.name not in secrets and os.environ.get(ENV_PREFIX + field.name.upper()):
                secrets[field.name] = os.environ[ENV_PREFIX + field.name.upper()]
        try:
            with transaction.atomic():
                account = account_create(
                    name=name,
                    kind=kind,
                    base_url=base_url,
                    config=key_values(config, "config"),
                    secrets=secrets,
                    sync_interval_minutes=interval,
                    enabled=not disabled,
                )
                stored = sorted(key for key, value in secrets.items() if value)
                record(
                    "vendor_account.create",
                    obj=account,
                    details={
                        "name": account.name,
                        "kind": kind,
                        "secret_fields": stored,
                        "via": "add_vendor_account",
                    },
                )
        except AccountInvalid as exc:
            lines = [f"  {field}: {message}" for field, message in exc.errors.items()]
            secret_names = ", ".join(field.name for field in spec.secrets) or "none"
            raise CommandError(
                "The account was not added:\n"
                + "\n".join(lines)
                + f"\n{spec.label} settings: "
                + (", ".join(field.name for field in spec.config) or "none")
                + f"; secrets: {secret_names}."
            ) from None
        self.stdout.write(
            self.style.SUCCESS(f"Added {account} with id {account.pk}.")
            + f" Credentials stored: {', '.join(stored) or 'none'}."
        )
