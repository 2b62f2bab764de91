"""Users for admins: list, create or invite, change roles and details, deactivate; and the page
where an invited user sets their password.

Each view checks its permission itself (a client can ask for any partial directly): view_user to
list and see, add_user to create, change_user to change. Changes are POST only and written to
the access log by the services. Sign in and out are Django's views (see urls.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .forms import UserCreateForm, UserForm, initial_for
from .roles import ROLE_DESCRIPTIONS, ROLES, capability

PAGE_SIZE = 50
ACTIVE_FILTERS = {"yes": True, "no": False}
# Stands for the token in the address once it is kept in the session (as Django's own
# password reset does), so the token is not left in the address bar, history or Referer.
TOKEN_IN_SESSION = "set-password"  # noqa: S105 - a placeholder, not a secret
SESSION_TOKEN_KEY = "_invitation_token"  # noqa: S105 - the session key's name


def _page(request, template: str, partial: str | None, context: dict, status: int = 200):
    """The whole page, or only the named partial when htmx asks for it."""
    name = f"{template}#{partial}" if request.htmx and partial else template
    return render(request, name, context, status=status)


# --- list --------------------------------------------------------------------------------


def _filters(request) -> dict:
    role = request.GET.get("role", "")
    active = request.GET.get("active", "")
    return {
        "role": role if role in ROLES else "",
        "active": active if active in ACTIVE_FILTERS else "",
    }


def _users(role: str, active: str):
    roles = Group.objects.filter(name__in=ROLES).order_by("name")
    users = User.objects.prefetch_related(Prefetch("groups", roles, to_attr="role_groups"))
    if role:
        users = users.filter(groups__name=role)
    if active:
        users = users.filter(is_active=ACTIVE_FILTERS[active])
    return users.order_by("username")


@capability("auth.view_user")
@require_GET
def user_list(request):
    filters = _filters(request)
    page = Paginator(_users(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = {name: value for name, value in filters.items() if value}
    context = {
        "page": page,
        "filters": filters,
        "filtered": bool(query),
        "query": urlencode(query),
        "roles": ROLES,
    }
    return _page(request, "accounts/users.html", "users", context)


# --- create ------------------------------------------------------------------------------


@capability("auth.add_user")
@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def user_add(request):
    data = request.POST if request.method == "POST" else None
    form = UserCreateForm(data)
    if data is not None and form.is_valid():
        actor, password, invitation = request.user, form.password(), None
        try:
            with transaction.atomic():
                user = services.user_create(
                    username=form.cleaned_data["username"],
                    roles=form.cleaned_data["roles"],
                    password=password,
                    actor=actor,
                    request=request,
                    **form.details(),
                )
                if password is None:
                    invitation = services.user_invite(user, actor=actor, request=request)
        except services.UserInvalid as exc:
            form.add_service_errors(exc.errors)
        else:
            if invitation is not None:
                return _invitation(request, invitation, created=True)
            messages.success(request, f"Created {user.get_username()} with the password set.")
            return redirect("accounts:user_edit", pk=user.pk)
    status = 400 if form.errors else 200
    return render(request, "accounts/users_new.html", {"form": form}, status=status)


def _invitation(request, invitation: services.Invitation, *, created: bool):
    """The set-password link, shown this once: it is kept nowhere the admin could see again."""
    context = {
        "invitation": invitation,
        "subject": invitation.user,
        "link": request.build_absolute_uri(invitation.path),
        "valid_days": invitation.valid_for.total_seconds() / 86400,
        "created": created,
    }
    return render(request, "accounts/users_link.html", context)


# --- see and change ----------------------------------------------------------------------


def _edit_context(subject: User, form: UserForm | None = None, **extra) -> dict:
    roles = services.roles_of(subject)
    return {
        "subject": subject,
        "role_rows": [(role, ROLE_DESCRIPTIONS[role]) for role in roles],
        "form": form or UserForm(initial=initial_for(subject, roles)),
        **extra,
    }


@capability("auth.view_user")
@require_http_methods(["GET", "POST"])
def user_edit(request, pk: int):
    if request.method == "POST" and not request.user.has_perm("auth.change_user"):
        raise PermissionDenied
    subject = get_object_or_404(User, pk=pk)
    if request.method != "POST":
        return render(request, "accounts/users_edit.html", _edit_context(subject))
    form = UserForm(request.POST)
    if form.is_valid():
        try:
            change = services.user_update(
                subject,
                roles=form.cleaned_data["roles"],
                actor=request.user,
                request=request,
                **form.details(),
            )
        except services.Refused as exc:
            context = _edit_context(subject, form, refused=str(exc))
            return render(request, "accounts/users_edit.html", context, status=409)
        if change.changed:
            changed = ", ".join(name.replace("_", " ") for name in change.changed)
            messages.success(request, f"Saved: {changed}.")
        else:
            messages.info(request, "Nothing changed.")
        # A fresh copy: request.user caches the permissions it had before the change.
        if not User.objects.get(pk=request.user.pk).has_perm("auth.view_user"):
            return redirect("dashboard:home")  # they took their own admin role away
        return redirect("accounts:user_edit", pk=subject.pk)
    return render(request, "accounts/users_edit.html", _edit_context(subject, form), status=400)


@capability("auth.change_user")
@require_POST
def user_deactivate(request, pk: int):
    subject = get_object_or_404(User, pk=pk)
    try:
        ended = services.user_deactivate(subject, actor=request.user, request=request)
    except services.Refused as exc:
        context = _edit_context(subject, refused=str(exc))
        return render(request, "accounts/users_edit.html", context, status=409)
    sessions = f" {ended} open session{'s' if ended != 1 else ''} ended." if ended else ""
    messages.success(request, f"Deactivated {subject.get_username()}.{sessions}")
    return redirect("accounts:user_edit", pk=subject.pk)


@capability("auth.change_user")
@require_POST
def user_reactivate(request, pk: int):
    subject = get_object_or_404(User, pk=pk)
    if services.user_reactivate(subject, actor=request.user, request=request):
        messages.success(request, f"Reactivated {subject.get_username()}: they can sign in again.")
    else:
        messages.info(request, f"{subject.get_username()} is active already.")
    return redirect("accounts:user_edit", pk=subject.pk)


@capability("auth.change_user")
@never_cache
@require_POST
def user_link(request, pk: int):
    """A new set-password link, e.g. when the first one expired before it was used."""
    subject = get_object_or_404(User, pk=pk)
    try:
        invitation = services.user_invite(subject, actor=request.user, request=request)
    except services.Refused as exc:
        context = _edit_context(subject, refused=str(exc))
        return render(request, "accounts/users_edit.html", context, status=409)
    return _invitation(request, invitation, created=False)


# --- the invitee's side ------------------------------------------------------------------


@login_not_required
@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def set_password(request, uidb64: str, token: str):
    user = services.user_from_uid(uidb64)
    if token != TOKEN_IN_SESSION:
        if not services.invitation_valid(user, token):
            return _link_invalid(request)
        request.session[SESSION_TOKEN_KEY] = token
        kwargs = {"uidb64": uidb64, "token": TOKEN_IN_SESSION}
        return redirect(reverse("accounts:set_password", kwargs=kwargs))
    token = request.session.get(SESSION_TOKEN_KEY, "")
    if not services.invitation_valid(user, token):
        return _link_invalid(request)
    form = SetPasswordForm(user, request.POST if request.method == "POST" else None)
    if form.is_valid():
        if not services.password_set(user, token, form, request=request):
            return _link_invalid(request)
        del request.session[SESSION_TOKEN_KEY]
        messages.success(request, "Your password is set. Sign in with it now.")
        return redirect(reverse("accounts:login"))
    status = 400 if form.errors else 200
    return render(request, "accounts/users_set_password.html", {"form": form}, status=status)


def _link_invalid(request):
    context = {"form": None}
    return render(request, "accounts/users_set_password.html", context, status=400)
