"""Which address a request comes from, for the access log and login throttling."""

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR; behind our reverse proxy (BEHIND_PROXY), the address the proxy saw.

    That is the *last* X-Forwarded-For entry, the one nginx appended: the entries before it
    are whatever the client sent, so trusting the first would let anyone choose the address
    the access log records and the lockout counts.
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "")
