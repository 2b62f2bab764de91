import httpx
from django.core.management.base import BaseCommand, CommandError

from recordings_portal.demo.users import describe, ensure_demo_users
from recordings_portal.vendors.models import VendorAccount
from recordings_portal.vendors.services import AccountInvalid, account_create, account_update


class Command(BaseCommand):
    help = "Create the demo users (one per role) and, given --simulators, one account per vendor."

    def add_arguments(self, parser):
        parser.add_argument("--simulators", help="Base URL of running vendor simulators.")

    def handle(self, *args, simulators=None, **options):
        self.stdout.write(describe(ensure_demo_users()))
        if simulators:
            self.create_accounts(simulators.rstrip("/"))

    def create_accounts(self, base_url: str):
        try:
            offered = httpx.get(f"{base_url}/_control/accounts", timeout=10).json()
        except httpx.HTTPError as exc:
            raise CommandError(f"The simulators at {base_url} do not answer: {exc}") from exc
        for kind, credentials in offered.items():
            fields = {
                "kind": kind,
                "base_url": base_url + credentials["path"],
                "config": credentials["config"],
                "secrets": credentials["secrets"],
            }
            name = f"Demo {kind}"
            existing = VendorAccount.objects.filter(name=name).first()
            try:
                if existing:
                    account_update(existing, **fields)
                else:
                    account_create(name=name, **fields)
            except AccountInvalid as exc:
                self.stderr.write(f"  vendor account {name!r} not set up: {exc}")
                continue
            self.stdout.write(f"  vendor account {name!r} -> {fields['base_url']}")
