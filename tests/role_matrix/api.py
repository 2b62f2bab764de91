from . import ADMIN, EVERYONE, Page

MAY_BROWSE = frozenset({"supervisor", "compliance"}) | ADMIN
RECORDING = (("recording_id", 1),)

PAGES = {
    "api:tokens": Page(allowed=MAY_BROWSE),
    "api:token-revoke": Page(method="post", allowed=MAY_BROWSE, kwargs=(("pk", 1),)),
    # Signed-in users read it here; API clients with their token (tests/api).
    "api:v1:openapi-json": Page(allowed=EVERYONE),
    # The API authenticates by bearer token, never by the session, and answers 401 rather than
    # sending anyone to sign in: tests/api/test_auth.py checks each role with a token.
    "api:v1:api-root": Page(public=True),  # ninja's URL prefix: always 404
    "api:v1:list_recordings": Page(public=True),
    "api:v1:get_recording": Page(public=True, kwargs=RECORDING),
    "api:v1:get_recording_media": Page(public=True, kwargs=RECORDING),
}
