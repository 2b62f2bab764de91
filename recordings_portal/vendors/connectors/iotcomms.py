"""iotcomms SIPRec (shared/vendor-apis/iotcomms-siprec.txt): recordings arrive by callbacks.

A call's recording at iotcomms: /newCall asks whether to record (the account's recording policy
answers, iotcomms_events.py), /recordingStarted, then /recordingReady once the file sits in
iotcomms' temporary storage. The portal keeps it by STORERECORDING into the customer's bucket,
fetches that file with the storage token, then DELETERECORDING frees the temporary copy.
Commands are REST: POST <base>/{domain}/<command>; there is no listing API.

Document quirks handled:
- "Authorizations:" heads every command with its scheme lost: the API token is sent both as
  "Authorization: Bearer" and as "x-api-key", the header of the API Gateway the base URL and
  the SQS/SNS plumbing suggest.
- the base URL is documented as .../callrecording: added when an admin leaves it out.
- DELETERECORDING's REST sample has no "method", the queue example has one: it is sent.
- STORERECORDING's file name and modificationParams: see iotcomms_store.py.
- a refused command answers the alarm the document defines for it ({"type":
  "storeRecordingError", "error": ...}); "recordingId not found" means the temporary copy is
  gone (deleted, or expired).
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from urllib.parse import quote, urljoin

import httpx

from .base import (
    AuthFailed,
    Connector,
    ConnectorError,
    Gone,
    MaskSpan,
    MediaStream,
    NotReady,
    RecordingRef,
    VendorEvent,
)
from .iotcomms_events import CHECK_RECORDING_ID, parse
from .iotcomms_store import modification_params, stored_key

MD5 = re.compile(r'^"?([0-9a-fA-F]{32})"?$')  # a multipart upload's ETag ("...-3") is no MD5


class Refused(ConnectorError):
    """iotcomms refused a command with its documented alarm body."""

    def __init__(self, message: str, *, error: str, status: int):
        super().__init__(message, permanent=status < 500)
        self.error, self.status = error, status

    @property
    def not_found(self) -> bool:
        return "not found" in self.error.lower() or "expired" in self.error.lower()


class ObjectMissing(Gone):
    """The bucket has no object under that key, or is not there itself (yet)."""

    def __init__(self, message: str, *, no_bucket: bool = False):
        super().__init__(message)
        self.no_bucket = no_bucket


class IotcommsConnector(Connector):
    label = "iotcomms"
    store_wait = 30.0  # seconds to wait for a STORERECORDING copy to appear in the bucket
    poll_interval = 0.2

    def __init__(self, account, client: httpx.Client):
        super().__init__(account, client)
        if not self.base_url.endswith("/callrecording"):
            self.base_url += "/callrecording"
        self.domain = self.config.get("domain", "")
        self.bucket = self.config.get("bucket", "")
        # Resolved as a reference against the base URL: "/bucket" or an absolute endpoint.
        storage = urljoin(account.base_url, self.config.get("storage_url") or "")
        self.storage_url = storage.rstrip("/")

    # --- HTTP ----------------------------------------------------------------------------

    def _api_headers(self) -> dict[str, str]:
        token = self.secrets.get("api_token", "")
        return {"Authorization": f"Bearer {token}", "x-api-key": token}

    def _command(self, command: str, body: dict) -> dict:
        url = f"{self.base_url}/{quote(self.domain, safe='')}/{command}"
        response = self.send("POST", url, json=body, headers=self._api_headers())
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("success") is False:
            self.raise_for_status(response)
        return answer if isinstance(answer, dict) else {}

    def _object_url(self, key: str) -> str:
        return f"{self.storage_url}/{quote(self.bucket, safe='')}/{quote(key)}"

    def _fetch(self, method: str, key: str, *, stream: bool = False) -> httpx.Response:
        token = self.secrets.get("storage_token", "")
        headers = {"Authorization": f"Bearer {token}"}
        return self.send(method, self._object_url(key), stream=stream, headers=headers)

    def _object(self, method: str, key: str, *, stream: bool = False) -> httpx.Response | None:
        """The bucket's answer for an object; None when there is none."""
        try:
            return self._fetch(method, key, stream=stream)
        except ObjectMissing:
            return None

    def raise_for_status(self, response: httpx.Response) -> None:
        if str(response.request.url).startswith(self.storage_url + "/"):
            self._raise_for_storage(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body and ("type" in body or "success" in body):
            command = response.request.url.path.rsplit("/", 1)[-1]
            error = str(body.get("error") or "refused")
            hint = " Check the account's SIPRec domain." if "domain" in error else ""
            message = f"iotcomms refused {command} ({response.status_code}): {error}.{hint}"
            raise Refused(message, error=error, status=response.status_code)
        super().raise_for_status(response)

    def _raise_for_storage(self, response: httpx.Response) -> None:
        status, detail = response.status_code, self.error_detail(response)
        code = re.search(r"<Code>([^<]+)</Code>", response.text)
        code = code.group(1) if code else ""
        if status in (401, 403):
            raise AuthFailed(f"The bucket's storage endpoint refused the storage token: {detail}")
        if code == "NoSuchBucket":
            # Perhaps not yet: a bucket can come into being with the first file stored in it.
            raise ObjectMissing(f"No bucket {self.bucket!r} at {self.storage_url}.", no_bucket=True)
        if status == 404:
            raise ObjectMissing(f"The bucket {self.bucket!r} has no such file: {detail}")

    # --- what the portal does ------------------------------------------------------------

    def check(self) -> str:
        # DELETERECORDING without a replyId, for a recordingId that cannot exist: the gateway
        # refuses a bad token first (401 {"message": "Unauthorized"}: AuthFailed); past it the
        # service refuses the command with its documented alarm body (our simulator: 400
        # "replyId is required"; a service checking ids first: 404 "recordingId not found"),
        # which proves the token and touches nothing. Its deleteRecordingError alarm is
        # recognised by the callback handler and not shown on the account.
        try:
            self._command(
                "deleterecording",
                {"method": "DELETERECORDING", "recordingId": CHECK_RECORDING_ID},
            )
        except Refused as exc:
            return f"iotcomms accepted the API token (a test command was refused: {exc.error})."
        return "iotcomms accepted the API token."

    def parse_event(self, path: str, headers: dict[str, str], body: bytes) -> VendorEvent:
        return parse(path, headers, body, secrets=self.secrets, config=self.config)

    @contextmanager
    def media(self, ref: RecordingRef):
        key = stored_key(ref)
        response = self._object("GET", key, stream=True)
        if response is None:
            self._store(ref, key)
            response = self._await(key, stream=True)
        etag = MD5.match(response.headers.get("ETag", ""))
        try:
            yield MediaStream(response, expected_md5=etag.group(1) if etag else "", fmt="mp3")
        finally:
            response.close()

    def after_download(self, ref: RecordingRef) -> None:
        self._delete_temporary(ref)

    def delete(self, ref: RecordingRef) -> str:
        receipt = [self._delete_temporary(ref)]
        key = stored_key(ref)
        where = f"{self.bucket}/{key}"
        if self._object("DELETE", key) is None:
            receipt.append(f"no stored copy {where}")
        else:
            receipt.append(f"stored copy {where} deleted")
        return "iotcomms: " + "; ".join(receipt) + "."

    def remote_mask(
        self, ref: RecordingRef, spans: list[MaskSpan], trim: tuple[float, float] | None = None
    ) -> str:
        params = modification_params(spans, trim, ref.metadata.get("startTime"))
        key = stored_key(ref)
        before = self._object("HEAD", key)
        etag = before.headers.get("ETag") if before is not None else None
        try:
            self._store(ref, key, modificationParams=params)
        except Gone as exc:
            raise Gone(
                f"{exc.message} iotcomms can modify a recording only while its temporary copy "
                "exists (until the portal has downloaded it, or it expires): delete the "
                "vendor's stored copy instead, or mask the portal's copy only.",
            ) from exc
        stored = self._await(key, unlike=etag).headers.get("ETag", "")
        return f"iotcomms stored a modified copy as {self.bucket}/{key} (ETag {stored})."

    # --- steps ---------------------------------------------------------------------------

    def _store(self, ref: RecordingRef, key: str, **extra) -> None:
        reply = ref.metadata.get("replyId")
        if not reply:
            raise NotReady(
                f"iotcomms has not reported recording {ref.external_id} ready yet "
                "(no /recordingReady), so it cannot be stored.",
                retry_after=60,
            )
        command = {
            "method": "STORERECORDING",
            "recordingId": ref.external_id,
            "replyId": reply,
            "destinationBucket": self.bucket,
            "fileName": key,
            **extra,
        }
        try:
            self._command("storerecording", command)
        except Refused as exc:
            if exc.not_found:
                raise Gone(
                    f"iotcomms no longer has recording {ref.external_id} ({exc.error}): its "
                    f"temporary copy was deleted or expired, and bucket {self.bucket!r} holds "
                    "no stored copy."
                ) from exc
            raise

    def _await(self, key: str, *, stream: bool = False, unlike: str | None = None):
        """The object once STORERECORDING (asynchronous) has written it, with a new ETag."""
        deadline, delay = time.monotonic() + self.store_wait, self.poll_interval
        while True:
            missing = None
            try:
                response = self._fetch("GET" if stream else "HEAD", key, stream=stream)
                if unlike is None or response.headers.get("ETag") != unlike:
                    return response
                response.close()
            except ObjectMissing as exc:
                missing = exc
            if time.monotonic() >= deadline:
                if missing is not None and missing.no_bucket:
                    raise ConnectorError(
                        f"{missing.message} iotcomms was asked to store {key} there but the "
                        "bucket still does not exist: check the account's bucket and storage "
                        "endpoint.",
                        permanent=True,
                    )
                raise NotReady(
                    f"iotcomms has not finished storing {key} in bucket {self.bucket!r} yet.",
                    retry_after=30,
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _delete_temporary(self, ref: RecordingRef) -> str:
        """DELETERECORDING (CANCELRECORDING while still recording); already gone is fine."""
        if ref.metadata.get("replyId"):
            command, reply = "deleterecording", ref.metadata["replyId"]
        elif ref.metadata.get("startedReplyId"):
            command, reply = "cancelrecording", ref.metadata["startedReplyId"]
        else:
            return "no temporary copy known"
        body = {"method": command.upper(), "recordingId": ref.external_id, "replyId": reply}
        try:
            self._command(command, body)
        except Refused as exc:
            if exc.not_found:
                return "temporary copy already gone"
            raise
        return "temporary copy deleted" if command == "deleterecording" else "recording cancelled"
