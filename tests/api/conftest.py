import pytest
from django.core.cache import cache
from jsonschema import Draft202012Validator

from recordings_portal.api.tokens import token_create


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # The throttle counts calls in the cache, which outlives a test: start each one at zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def token_for(users):
    """token_for(role) -> a working token (the raw string) of that role's user."""

    def make(role: str, name: str = "tests") -> str:
        return token_create(user=users[role], name=name)[1]

    return make


class ApiClient:
    """The Django test client speaking to /api/v1/ with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client, self.token = client, token

    def get(self, path: str, data=None, token: str | None = None, **headers):
        token = token or self.token
        if token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return self.client.get(f"/api/v1{path}", data, **headers)


@pytest.fixture
def api_for(client, token_for):
    """api_for(role) -> an ApiClient with a token of that role's user; None: no token."""

    def make(role: str | None) -> ApiClient:
        return ApiClient(client, token_for(role) if role else None)

    return make


@pytest.fixture
def openapi(client, token_for):
    """The API's own OpenAPI document, fetched as a client would."""
    response = client.get(
        "/api/v1/openapi.json", HTTP_AUTHORIZATION=f"Bearer {token_for('supervisor', 'schema')}"
    )
    assert response.status_code == 200
    return OpenApi(response.json())


class OpenApi:
    def __init__(self, document: dict):
        self.document = document
        Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})

    def schema_for(self, path: str, status: int, method: str = "get") -> dict:
        responses = self.document["paths"][path][method]["responses"]
        assert str(status) in responses, f"{status} is not documented for {method} {path}"
        content = responses[str(status)].get("content", {})
        return content.get("application/json", {}).get("schema")

    def validate(self, response, path: str, method: str = "get") -> None:
        """The response's status is documented for the operation and its body fits the schema."""
        schema = self.schema_for(path, response.status_code, method)
        assert schema is not None, f"{response.status_code} of {path} has no JSON schema"
        # Resolve "#/components/..." references against the document itself.
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = sorted(validator.iter_errors(response.json()), key=str)
        assert not errors, "\n".join(error.message for error in errors)
