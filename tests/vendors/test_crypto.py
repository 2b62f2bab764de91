import pytest
from cryptography.fernet import Fernet
from django.db import connection

from recordings_portal.vendors import crypto
from recordings_portal.vendors.models import VendorAccount
from recordings_portal.vendors.services import account_create, accounts_rotate_encryption

SECRET = "ff_live_9f8e7d6c5b4a3aex"


@pytest.fixture
def account(db, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
    return account_create(
        name="Flyflow prod",
        kind="flyflow",
        base_url="https://api.flyflow.dev/v1",
        secrets={"api_key": SECRET},
    )


def stored_column(account) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets_encrypted FROM vendors_vendoraccount WHERE id = %s", [account.id]
        )
        return cursor.fetchone()[0]


def test_the_stored_column_never_holds_the_plaintext(account):
    raw = stored_column(account)
    assert raw
    assert SECRET not in raw
    assert "api_key" not in raw


def test_secrets_round_trip(account):
    assert VendorAccount.objects.get(pk=account.pk).get_secrets() == {"api_key": SECRET}


def test_masked_secrets_show_only_the_last_four_characters(account):
    assert account.masked_secrets() == {"api_key": "••••3aex"}


def test_rotation_reencrypts_under_the_new_key_and_old_tokens_decrypt_before_it(account, settings):
    old_key = settings.FERNET_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, old_key]
    before = stored_column(account)
    assert VendorAccount.objects.get(pk=account.pk).get_secrets() == {"api_key": SECRET}

    rotated, unreadable = accounts_rotate_encryption()

    assert (rotated, unreadable) == (1, [])
    after = stored_column(account)
    assert after != before
    settings.FERNET_KEYS = [new_key]  # the old key retired: still readable
    assert VendorAccount.objects.get(pk=account.pk).get_secrets() == {"api_key": SECRET}


def test_a_wrong_key_gives_a_clear_error(account, settings):
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]
    reloaded = VendorAccount.objects.get(pk=account.pk)
    with pytest.raises(crypto.CredentialsUnreadable, match="cannot be decrypted"):
        reloaded.get_secrets()
    assert reloaded.masked_secrets() == {}
    assert accounts_rotate_encryption() == (0, ["Flyflow prod"])


def test_rotate_command_reports_unreadable_accounts(account, settings):
    from django.core.management import CommandError, call_command

    settings.FERNET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="Flyflow prod"):
        call_command("rotate_encryption_keys")
