"""Receiving vendor webhooks and callbacks: verify, de-duplicate, apply, answer.

One endpoint serves every vendor that pushes events: /hooks/<account public id>/<event path>.
The connector verifies and parses (signatures, tokens, timestamps are vendor business); this
module makes sure a bad request changes nothing and a replayed delivery changes nothing twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from recordings_portal.catalog.services.upsert import recordings_upsert

from .connectors.base import InvalidEvent, VendorEvent
from .connectors.registry import connector_for, supports
from .crypto import CredentialsUnreadable
from .health import account_mark_degraded
from .kinds import WEBHOOKS
from .models import VendorAccount, WebhookDelivery

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt  # vendors cannot hold a CSRF token; each request is authenticated by the connector
@login_not_required
@require_POST
def receive(request, public_id, event_path: str):
    account = VendorAccount.objects.filter(public_id=public_id, enabled=True).first()
    if account is None or not supports(account.kind, WEBHOOKS):
        raise Http404
    length = int(request.headers.get("Content-Length") or 0)
    if length > settings.WEBHOOK_MAX_BYTES:
        return _error(413, f"Bodies over {settings.WEBHOOK_MAX_BYTES} bytes are refused.")
    body = request.body
    if len(body) > settings.WEBHOOK_MAX_BYTES:
        return _error(413, f"Bodies over {settings.WEBHOOK_MAX_BYTES} bytes are refused.")
    try:
        connector = connector_for(account)
        event = connector.parse_event(event_path, dict(request.headers), body)
    except CredentialsUnreadable:
        return _error(503, "The account's credentials cannot be read; nothing was changed.")
    except InvalidEvent as exc:
        log.warning("refused %s webhook for %s: %s", account.kind, account.name, exc.message)
        return _error(exc.status, exc.message)
    applied = event_apply(account, event, event_path)
    if event.reply is not None:
        return JsonResponse(event.reply, safe=False)
    return JsonResponse({"ok": True, "duplicate": not applied})


def event_apply(account: VendorAccount, event: VendorEvent, event_path: str = "") -> bool:
    """Apply a verified event once; False when this delivery was seen before."""
    from recordings_portal.catalog.models import Recording, RecordingState
    from recordings_portal.catalog.tasks import download_recording

    remote = event.recording
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                account=account,
                delivery_id=event.delivery_id[:200],
                event_path=event_path[:100],
                external_id=remote.external_id[:255] if remote else "",
            )
            if remote is not None:
                recordings_upsert(account, [remote])
                if remote.ready and not remote.gone:
                    pending = Recording.objects.filter(
                        account=account,
                        external_id=remote.external_id,
                        state=RecordingState.DISCOVERED,
                    ).values_list("id", flat=True)
                    for recording_id in pending:
                        transaction.on_commit(
                            lambda rid=recording_id: download_recording.delay(rid)
                        )
    except IntegrityError:
        return False
    if event.alarm:
        account_mark_degraded(account, event.alarm)
    return True
