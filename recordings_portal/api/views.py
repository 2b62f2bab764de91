"""A user's own API tokens: create one (shown once), see when each was last used, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from recordings_portal.accounts.roles import capability
from recordings_portal.audit.log import record

from .forms import TokenForm
from .models import ApiToken
from .tokens import TokenLimitReached, token_create, token_revoke

# The API only reads recordings, so a token is for those who may browse them.
API_PERMISSION = "catalog.browse_recordings"


@capability(API_PERMISSION)
@never_cache  # the page that shows a new token must not be kept by any cache
@require_http_methods(["GET", "POST"])
def tokens(request):
    form = TokenForm(request.POST if request.method == "POST" else None)
    created, status = None, 200
    if form.is_bound:
        if form.is_valid():
            try:
                with transaction.atomic():
                    token, raw = token_create(user=request.user, name=form.cleaned_data["name"])
                    details = {"name": token.name, "prefix": token.prefix}
                    record("api_token.create", request=request, obj=token, details=details)
            except TokenLimitReached as exc:
                form.add_error(None, str(exc))
            else:
                # Rendered, not redirected: the token must not pass through the session.
                created, form = {"token": token, "raw": raw}, TokenForm()
        if form.errors:
            status = 400
    context = {
        "form": form,
        "created": created,
        "tokens": ApiToken.objects.filter(user=request.user),
    }
    return render(request, "api/tokens.html", context, status=status)


@capability(API_PERMISSION)
@require_POST
def revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)  # one's own tokens only
    with transaction.atomic():
        revoked = token_revoke(token=token)
        if revoked:
            details = {"name": token.name, "prefix": token.prefix}
            record("api_token.revoke", request=request, obj=token, details=details)
    if revoked:
        messages.success(request, f"Revoked “{token.name}” ({token.prefix}…).")
    else:
        messages.info(request, f"“{token.name}” was already revoked.")
    return redirect("api:tokens")
