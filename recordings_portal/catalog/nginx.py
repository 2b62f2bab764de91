"""The nginx configuration the portal expects in front of it, made from its own settings.

`manage.py nginx_config` prints it, and the tests and the range benchmark run nginx on it, so
the configuration an operator deploys is the one that was tested. nginx sends the audio bytes
(Range, conditional requests, sendfile) while the portal decides who may hear them, in one of
two ways:

- X-Accel-Redirect (MEDIA_ACCEL_REDIRECT_PREFIX): every audio request reaches Django, which
  authorises it and names the file in an `internal` location;
- auth_request (MEDIA_AUTH_REQUEST_SECONDS > 0, on top of the former): nginx serves the audio
  location itself after asking Django whether this session may play this recording, and keeps
  a yes for that many seconds per session and recording. Refusals are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from .services.imports import MAX_BYTES as IMPORT_MAX_BYTES
from .views.media import CONTENT_TYPES

PK_PLACEHOLDER = 987654321  # reversed into the URLs, then replaced by nginx's capture


@dataclass(frozen=True)
class Site:
    upstream: str  # where gunicorn listens: "unix:/run/portal/gunicorn.sock" or "host:port"
    listen: str = "127.0.0.1:8080"
    cache_dir: Path = Path("/var/cache/nginx/recordings-portal")  # auth_request answers
    name: str = "recordings_portal"  # of the upstream and the cache zone: unique per nginx


def http_config(site: Site) -> str:
    """The `upstream`, cache and `server` blocks to include in nginx's `http` block."""
    prefix = settings.MEDIA_ACCEL_REDIRECT_PREFIX
    if not prefix:
        raise ValueError(
            "MEDIA_ACCEL_REDIRECT_PREFIX is empty: set it (e.g. /protected-media/) so the "
            "portal hands the audio to nginx."
        )
    media = Path(settings.MEDIA_ROOT).resolve()
    blocks = [_UPSTREAM.format(name=site.name, upstream=site.upstream)]
    locations = [_ACCEL.format(prefix="/" + prefix.strip("/") + "/", media=media)]
    if settings.MEDIA_AUTH_REQUEST_SECONDS > 0:
        blocks.append(_AUTH_CACHE.format(name=site.name, cache_dir=site.cache_dir))
        audio = reverse("catalog:stream", kwargs={"pk": PK_PLACEHOLDER})
        authorisation = reverse("catalog:stream_authorisation", kwargs={"pk": PK_PLACEHOLDER})
        locations.append(
            _AUTH_REQUEST.format(
                name=site.name,
                media=media,
                audio=audio.replace(str(PK_PLACEHOLDER), "(?<media_pk>[0-9]+)"),
                authorisation=authorisation.replace(str(PK_PLACEHOLDER), "$media_pk"),
                cookie=settings.SESSION_COOKIE_NAME,
                types=_types(),
                proxy_headers=_PROXY_HEADERS,
            )
        )
    blocks.append(
        _SERVER.format(
            listen=site.listen,
            body_mb=IMPORT_MAX_BYTES // 2**20 + 1,
            name=site.name,
            proxy_headers=_PROXY_HEADERS,
            locations="".join(locations),
        )
    )
    return "\n".join(blocks)


def _types() -> str:
    by_type: dict[str, list[str]] = {}
    for extension, content_type in CONTENT_TYPES.items():
        by_type.setdefault(content_type, []).append(extension)
    return " ".join(f"{kind} {' '.join(extensions)};" for kind, extensions in by_type.items())


_UPSTREAM = """\
upstream {name} {{
    server {upstream};
    keepalive 32;
}}
"""

_PROXY_HEADERS = """\
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Appends the address nginx saw; the portal trusts only that last entry (BEHIND_PROXY).
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"""

_SERVER = """\
server {{
    listen {listen};  # add ssl and the certificate here, and set PORTAL_HTTPS=true
    client_max_body_size {body_mb}m;  # the largest report import
    sendfile on;
    # With sendfile, tcp_nopush (Debian's default turns it on) stalls each keep-alive range
    # answer for the 40 ms delayed-ACK timer.
    tcp_nopush off;

    location / {{
        proxy_pass http://{name};
{proxy_headers}
    }}
{locations}}}
"""

_ACCEL = """
    # The stored recordings (MEDIA_ROOT), reachable only through the portal's X-Accel-Redirect.
    # nginx's workers must be able to read them: run them as the portal's user.
    location {prefix} {{
        internal;
        alias {media}/;
    }}
"""

_AUTH_CACHE = """\
proxy_cache_path {cache_dir} levels=1 keys_zone={name}_media_auth:10m inactive=60s;
"""

_AUTH_REQUEST = """
    # The audio, served by nginx once the portal says this session may play this recording
    # (MEDIA_AUTH_REQUEST_SECONDS).
    location ~ ^{audio}$ {{
        auth_request /_media_auth;
        auth_request_set $media_file $upstream_http_x_media_file;
        root {media};
        try_files /$media_file =404;  # no file named: nothing to play
        # The types the portal itself sends, by the stored file's extension.
        types {{ {types} }}
        default_type application/octet-stream;
        add_header Cache-Control "private, no-cache" always;
    }}
    location = /_media_auth {{
        internal;
        proxy_pass http://{name}{authorisation};
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
{proxy_headers}
        # A yes is kept for the seconds the portal names (X-Accel-Expires), per recording and
        # session cookie; refusals are not kept.
        proxy_cache {name}_media_auth;
        proxy_cache_key "$media_pk $cookie_{cookie}";
    }}
"""
