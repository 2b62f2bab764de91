"""The role matrix: every URL pattern, who may reach it.

Each module here declares PAGES (URL name -> Page) for its part of the portal; the matrix is
their union, so a feature adds its pages in a file of its own.
"""

import importlib
import pkgutil
from dataclasses import dataclass

from tests.conftest import ROLE_NAMES

EVERYONE = frozenset(ROLE_NAMES)
ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class Page:
    allowed: frozenset = frozenset()  # roles that get 200
    public: bool = False  # reachable without signing in
    method: str = "get"
    kwargs: tuple = ()  # (name, value or a function creating what the page shows)


def matrix() -> dict[str, Page]:
    pages: dict[str, Page] = {}
    for module in pkgutil.iter_modules(__path__):
        declared = importlib.import_module(f"{__name__}.{module.name}").PAGES
        overlap = set(pages) & set(declared)
        assert not overlap, f"{module.name} declares {overlap} again"
        pages.update(declared)
    return pages
