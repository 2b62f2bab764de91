"""What every vendor connector is: the interface, the values it returns, the errors it raises.

A connector speaks one vendor's HTTP API and nothing else. It gets the account's settings and
an httpx client, returns plain dataclasses, and never touches the ORM: services translate. The
HTTP mechanism (status codes to errors, Retry-After, streaming media) lives here once, so a
vendor module only says what is different about its vendor.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from recordings_portal.lib.http import MAX_REDIRECTS, UnsafeDestination

MEDIA_CHUNK = 256 * 1024
# Fresh links asked for when a signed media link is refused as expired.
LINK_TRIES = 3


# --- errors ---------------------------------------------------------------------------------


class ConnectorError(Exception):
    """A vendor call failed. `permanent` says whether trying again can help."""

    permanent = False

    def __init__(self, message: str, *, permanent: bool | None = None, retry_after: float = 0):
        super().__init__(message)
        self.message = message
        if permanent is not None:
            self.permanent = permanent
        self.retry_after = retry_after


class AuthFailed(ConnectorError):
    """The vendor refused the credentials: the account's admin must act."""

    permanent = True


class NotReady(ConnectorError):
    """The recording exists but cannot be fetched yet (call or processing in progress)."""


class RateLimited(ConnectorError):
    """The vendor asked us to slow down; retry_after says for how long."""


class Gone(ConnectorError):
    """The recording is no longer at the vendor (expired, deleted, never existed)."""

    permanent = True


class LinkExpired(ConnectorError):
    """A signed or temporary media link expired: ask the vendor for a new one."""


class InvalidEvent(ConnectorError):
    """A webhook or callback that must not be acted on (bad signature, stale, malformed).

    `status` is what the portal answers the sender: 401 for failed authentication, 400 for a
    malformed body, 409 for a stale timestamp.
    """

    permanent = True

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.status = status


class ImportInvalid(ConnectorError):
    """A whole import file is unusable (encoding, missing columns, no rows): import nothing."""

    permanent = True


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountSettings:
    base_url: str
    config: dict
    secrets: dict


@dataclass(frozen=True)
class RemoteRecording:
    """A recording as the vendor describes it; every field but the id is optional."""

    external_id: str
    vendor_call_id: str = ""
    started_at: datetime | None = None
    duration: float | None = None
    direction: str = "unknown"
    caller: str = ""
    callee: str = ""
    participants: tuple[str, ...] = ()
    format: str = ""
    channels: int | None = None
    sample_rate: int | None = None
    size: int | None = None
    sha256: str = ""
    vendor_state: str = ""
    # False while the vendor still records or processes it: discovered, not yet downloadable.
    ready: bool = True
    # True when the vendor says the recording is gone (deleted, expired, failed for good).
    gone: bool = False
    metadata: dict = field(default_factory=dict)
    # Why it is gone, in words for the recording's error line (a generic one when empty).
    gone_reason: str = ""


@dataclass(frozen=True)
class RecordingRef:
    """What a connector is given back to act on a recording it described before."""

    external_id: str
    vendor_call_id: str = ""
    metadata: dict = field(default_factory=dict)
    sha256: str = ""


@dataclass(frozen=True)
class CatalogPage:
    recordings: list[RemoteRecording]
    # Where the next page starts; None when this was the last page.
    next_cursor: dict | None
    total: int | None = None
    # On the last page: where the next sync should start (kept on the account).
    watermark: dict | None = None


@dataclass(frozen=True)
class VendorEvent:
    """A verified webhook or callback, reduced to what the portal does with it.

    `recording` is created or updated (its `ready` and `gone` flags say whether to download
    it or mark it gone); None when the event only needs an answer (iotcomms /newCall).
    """

    delivery_id: str
    recording: RemoteRecording | None = None
    # What to answer the vendor, for vendors whose callbacks expect a body.
    reply: dict | None = None
    # A problem the account's admin should see (a vendor alarm, a failed recording).
    alarm: str = ""


@dataclass(frozen=True)
class ImportLine:
    """One line of an import file that was not imported, and why (line 1 is the first line)."""

    line: int
    message: str


@dataclass(frozen=True)
class ParsedImport:
    """What a customer's file (a report, a list of ids) names, line by line."""

    recordings: list[RemoteRecording]
    # Rows that name no recording by design (an unanswered call): nothing to import.
    skipped: list[ImportLine] = field(default_factory=list)
    # Rows that could not be read: the user fixes them and imports again.
    problems: list[ImportLine] = field(default_factory=list)


@dataclass(frozen=True)
class MaskSpan:
    """A span to beep over, in seconds from the recording's start.

    `channel` 0 is the caller (left), 1 the callee (right), None both.
    """

    start: float
    end: float
    channel: int | None = None


class MediaStream:
    """An open media response: iterate its bytes once; what the vendor promised is attached.

    `expected_md5` (an S3 ETag, say) is checked as the bytes go by: a mismatch raises at the
    end of the iteration, before the download service keeps anything.
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        expected_sha256: str = "",
        fmt: str = "",
        expected_md5: str = "",
    ):
        self.response = response
        self.expected_sha256 = expected_sha256
        self.expected_md5 = expected_md5.lower()
        self.format = fmt
        length = response.headers.get("Content-Length")
        self.expected_size = int(length) if length and length.isdigit() else None
        self.content_type = response.headers.get("Content-Type", "").split(";")[0].strip()

    def iter_bytes(self, chunk_size: int = MEDIA_CHUNK) -> Iterator[bytes]:
        md5 = hashlib.md5(usedforsecurity=False) if self.expected_md5 else None
        try:
            for chunk in self.response.iter_bytes(chunk_size):
                if md5 is not None:
                    md5.update(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise ConnectorError(f"The download was interrupted: {exc}") from exc
        if md5 is not None and md5.hexdigest() != self.expected_md5:
            raise ConnectorError(
                f"Checksum mismatch: the vendor said MD5 {self.expected_md5[:12]}…, "
                f"the file is {md5.hexdigest()[:12]}…."
            )


# --- the connector --------------------------------------------------------------------------


def parse_retry_after(value: str | None, default: float = 30.0) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


class Connector:
    """Base class: subclasses implement what their vendor supports (see the registry)."""

    label = "vendor"

    def __init__(self, account: AccountSettings, client: httpx.Client):
        self.base_url = account.base_url.rstrip("/")
        self.config = account.config
        self.secrets = account.secrets
        self.client = client

    # What a vendor may support; the registry lists which each kind does.
    def check(self) -> str:
        """Prove the credentials work with a cheap call; return a one-line description."""
        raise NotImplementedError

    def discover(self, cursor: dict) -> CatalogPage:
        raise NotImplementedError

    def parse_import(self, data: bytes, filename: str = "") -> ParsedImport:
        """Read a file the customer exported; ImportInvalid when the whole file is unusable."""
        raise NotImplementedError

    def parse_event(self, path: str, headers: dict[str, str], body: bytes) -> VendorEvent:
        raise NotImplementedError

    def media(self, ref: RecordingRef):
        """A context manager yielding a MediaStream for the recording's audio."""
        raise NotImplementedError

    def delete(self, ref: RecordingRef) -> str:
        """Delete the vendor's copy; return the vendor's receipt. Already gone is success."""
        raise NotImplementedError

    def after_download(self, ref: RecordingRef) -> None:
        """Called once the audio is safely stored (iotcomms deletes its temporary copy)."""

    def remote_mask(
        self, ref: RecordingRef, spans: list[MaskSpan], trim: tuple[float, float] | None = None
    ) -> str:
        """Have the vendor beep over `spans` (and keep only `trim`) in its own copy; a receipt."""
        raise NotImplementedError

    # The shared HTTP mechanism.
    def auth_headers(self) -> dict[str, str]:
        return {}

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def send(
        self,
        method: str,
        url: str,
        *,
        stream: bool = False,
        signed_link: bool = False,
        follow_redirects: bool | None = None,
        **kwargs,
    ) -> httpx.Response:
        """One request; transport failures and error statuses become ConnectorErrors.

        `signed_link`: the URL is a link the vendor signed (often on another host, such as S3):
        it goes without the account's credentials, and a refusal means the link, not the
        credentials, is bad.
        `follow_redirects=False` returns a redirect as it is, for a vendor that redirects to a
        temporary link: the caller fetches it as a signed link, without the credentials.
        Otherwise redirects are followed here, not by httpx: httpx would forward custom
        credential headers (X-Auth-Token, api-key) to whatever host a redirect names. Ours go
        to the account's own origin only; another host is treated as a signed link.
        """
        auth = {} if signed_link else self.auth_headers()
        headers = {**auth, **kwargs.pop("headers", {})}
        request = self.client.build_request(method, url, headers=headers, **kwargs)
        origin = (request.url.scheme, request.url.host, request.url.port)
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._transmit(request, stream)
            if follow_redirects is False or response.next_request is None:
                break
            request = response.next_request
            response.close()
            if (request.url.scheme, request.url.host, request.url.port) != origin:
                for name in auth:
                    request.headers.pop(name, None)
                signed_link = True
        else:
            response.close()
            raise ConnectorError(f"{self.label} redirected too many times", permanent=True)
        if response.status_code >= 400:
            try:
                if stream:
                    response.read()
                if signed_link:
                    self.raise_for_link_status(response)
                self.raise_for_status(response)
            finally:
                response.close()
        return response

    def _transmit(self, request: httpx.Request, stream: bool) -> httpx.Response:
        try:
            return self.client.send(request, stream=stream, follow_redirects=False)
        except UnsafeDestination as exc:
            raise ConnectorError(str(exc), permanent=True) from exc
        except httpx.TimeoutException as exc:
            raise ConnectorError(f"{self.label} did not answer in time ({exc})") from exc
        except httpx.TransportError as exc:
            raise ConnectorError(f"Could not reach {self.label}: {exc}") from exc

    def raise_for_status(self, response: httpx.Response) -> None:
        """Turn an error status into the right ConnectorError; vendors override for quirks."""
        status, detail = response.status_code, self.error_detail(response)
        where = f"{self.label} answered {status}"
        if status in (401, 403):
            raise AuthFailed(f"{where}: the credentials were refused. {detail}".strip())
        if status == 429:
            retry = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited(f"{where}: rate limited. {detail}".strip(), retry_after=retry)
        if status == 404:
            raise Gone(f"{where}: not found. {detail}".strip())
        if status >= 500:
            raise ConnectorError(f"{where}: a server error. {detail}".strip())
        raise ConnectorError(f"{where}. {detail}".strip(), permanent=True)

    def raise_for_link_status(self, response: httpx.Response) -> None:
        """A signed link's refusal: expired (ask the vendor for a new one) or the file is gone."""
        status, detail = response.status_code, self.error_detail(response)
        link = f"{self.label}'s download link"
        if status in (401, 403):
            raise LinkExpired(f"{link} was refused ({status}). {detail}".strip())
        if status in (404, 410):
            raise Gone(f"{link} found no file ({status}). {detail}".strip())

    @staticmethod
    def error_detail(response: httpx.Response) -> str:
        """The vendor's own message, short, for the account's error line."""
        try:
            body = response.json()
        except ValueError:
            # S3 (where vendors keep signed media) answers errors in XML: keep its <Message>.
            found = re.search(r"<Message>([^<]{1,200})</Message>", response.text)
            return found.group(1) if found else response.text[:200].strip()
        if isinstance(body, dict):
            for key in ("message", "error", "detail"):
                if isinstance(body.get(key), str):
                    return body[key][:200]
        return ""

    @contextmanager
    def stream_get(self, url: str, *, expected_sha256: str = "", fmt: str = "", **kwargs):
        response = self.send("GET", url, stream=True, **kwargs)
        try:
            yield MediaStream(response, expected_sha256=expected_sha256, fmt=fmt)
        finally:
            response.close()

    @contextmanager
    def stream_signed_link(
        self,
        request_link: Callable[[], str],
        *,
        tries: int = LINK_TRIES,
        expected_sha256: str = "",
        fmt: str = "",
    ):
        """Stream media from a short-lived link `request_link()` asks the vendor for.

        A link can expire between being handed out and being fetched (a queue, a slow worker,
        clock skew): a refused link is re-requested, a few times, rather than the download failed.
        """
        for attempt in range(1, tries + 1):
            try:
                response = self.send("GET", request_link(), stream=True, signed_link=True)
                break
            except LinkExpired:
                if attempt == tries:
                    raise
        try:
            yield MediaStream(response, expected_sha256=expected_sha256, fmt=fmt)
        finally:
            response.close()
