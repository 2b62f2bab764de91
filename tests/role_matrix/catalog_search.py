from . import Page

BROWSERS = frozenset({"supervisor", "compliance", "admin"})  # the auditor reads the log only

PAGES = {
    "catalog:search": Page(allowed=BROWSERS),
}
