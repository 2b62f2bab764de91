from . import ADMIN, Page


def a_vendor_account():
    from recordings_portal.vendors.models import VendorAccount
    from recordings_portal.vendors.services import account_create

    account = VendorAccount.objects.filter(name="Matrix").first()
    if account is None:
        account = account_create(
            name="Matrix",
            kind="flyflow",
            base_url="https://api.flyflow.dev/v1",
            secrets={"api_key": "ff_live_matrix_0000"},
        )
    return account.pk


VENDOR_ACCOUNT = (("pk", a_vendor_account),)

PAGES = {
    "vendors:list": Page(allowed=ADMIN),
    "vendors:add": Page(allowed=ADMIN),
    "vendors:detail": Page(allowed=ADMIN, kwargs=VENDOR_ACCOUNT),
    "vendors:edit": Page(allowed=ADMIN, kwargs=VENDOR_ACCOUNT),
    "vendors:progress": Page(allowed=ADMIN, kwargs=VENDOR_ACCOUNT),
    "vendors:test": Page(method="post", allowed=ADMIN, kwargs=VENDOR_ACCOUNT),
    "vendors:sync": Page(method="post", allowed=ADMIN, kwargs=VENDOR_ACCOUNT),
    "vendors:import": Page(method="post", allowed=ADMIN, kwargs=VENDOR_ACCOUNT),
}
