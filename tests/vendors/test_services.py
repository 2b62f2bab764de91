import pytest

from recordings_portal.vendors.services import AccountInvalid, account_create, account_update


@pytest.fixture(autouse=True)
def internet_only(settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False


def create(**overrides):
    fields = {
        "name": "Kaleyra EU",
        "kind": "kaleyra",
        "base_url": "https://api.kaleyra.io/",
        "config": {"sid": "HXAB12071US"},
        "secrets": {"api_key": "A1b2C3d4E5f6G7h8"},
    }
    return account_create(**{**fields, **overrides})


def test_it_creates_an_account_with_a_normalised_base_url(db):
    account = create()
    assert account.base_url == "https://api.kaleyra.io"
    assert account.get_secrets() == {"api_key": "A1b2C3d4E5f6G7h8"}


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("ftp://api.kaleyra.io", "http:// or https://"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://127.0.0.1:8900/kaleyra", "private or loopback"),
        ("http://[::1]/", "private or loopback"),
        ("http://10.0.0.8/", "private or loopback"),
        ("https://user:pw@api.kaleyra.io", "credentials"),
    ],
)
def test_it_refuses_unsafe_base_urls_with_a_clear_reason(db, base_url, message):
    with pytest.raises(AccountInvalid, match=message) as caught:
        create(base_url=base_url)
    assert "base_url" in caught.value.errors


def test_private_addresses_are_allowed_when_configured(db, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    assert create(base_url="http://127.0.0.1:8900/kaleyra").base_url.startswith("http://127")


def test_it_names_each_missing_or_unknown_setting(db):
    with pytest.raises(AccountInvalid) as caught:
        create(config={"colour": "blue"}, secrets={})
    assert set(caught.value.errors) == {"colour", "sid", "api_key"}


def test_blank_secrets_on_update_keep_the_stored_ones(db):
    account = create()
    changed = account_update(account, secrets={"api_key": ""}, sync_interval_minutes=15)
    assert changed == ["sync_interval_minutes"]
    assert account.get_secrets() == {"api_key": "A1b2C3d4E5f6G7h8"}
    assert account_update(account, secrets={"api_key": "new-key-0000-9999"}) == ["secrets"]
