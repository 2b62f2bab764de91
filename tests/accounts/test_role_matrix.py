"""Every page, for anonymous users and each role: allowed, or refused.

Adding a URL pattern without a line here fails test_every_url_pattern_is_in_the_matrix, so no
page escapes the matrix.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import ROLE_NAMES
from tests.role_matrix import matrix

MATRIX = matrix()


def page_url(name: str) -> str:
    kwargs = {key: value() if callable(value) else value for key, value in MATRIX[name].kwargs}
    return reverse(name, kwargs=kwargs)


def url_names(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from url_names(entry, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield prefix + entry.name


def test_every_url_pattern_is_in_the_matrix():
    assert set(url_names()) == set(MATRIX)


PRIVATE = [name for name, page in MATRIX.items() if not page.public]


@pytest.mark.parametrize("name", PRIVATE)
def test_anonymous_users_are_sent_to_sign_in(client, db, name):
    page = MATRIX[name]
    response = getattr(client, page.method)(page_url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("name", [n for n in PRIVATE if MATRIX[n].method == "get"])
def test_each_role_gets_exactly_its_pages(client_for, name, role):
    page = MATRIX[name]
    response = client_for(role).get(page_url(name))
    assert response.status_code == (200 if role in page.allowed else 403)


def test_a_user_without_a_role_is_told_to_ask_for_one(make_user, client):
    client.force_login(make_user("newcomer"))
    response = client.get(reverse("dashboard:home"))
    assert b"Ask an administrator" in response.content
