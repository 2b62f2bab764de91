from . import EVERYONE, Page

PAGES = {
    "healthz": Page(public=True),
    "vendor-webhook": Page(public=True),  # authenticated by the vendor's signature or token
    "accounts:login": Page(public=True),
    "accounts:logout": Page(method="post", allowed=EVERYONE),
    "dashboard:home": Page(allowed=EVERYONE),
}
