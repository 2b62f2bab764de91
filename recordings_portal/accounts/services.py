"""Writes on users: create, invite, change roles and details, deactivate, set a password.

Every change is written to the access log in the same transaction as the change, so the log
never shows a change that did not happen, nor misses one that did. Users are never deleted:
the access log refers to them.

Invitations: the portal has no mail server, so inviting a user means giving them no usable
password and handing the admin a one-time link (a PasswordResetTokenGenerator token, salted for
invitations only). The token covers the password hash, so setting a password, or issuing a new
link, spends it; it expires after settings.PASSWORD_RESET_TIMEOUT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from recordings_portal.audit.log import record

from .roles import ADMIN, ROLES


class UserInvalid(ValueError):
    """What is wrong with a user's details, field by field."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


class Refused(Exception):
    """A change the portal will not make, with the reason to show the admin."""


class InviteTokenGenerator(PasswordResetTokenGenerator):
    # Its own salt: an invitation token is worth nothing to any other token check.
    key_salt = "recordings_portal.accounts.invite"


invite_tokens = InviteTokenGenerator()


@dataclass(frozen=True)
class Invitation:
    """A set-password link, to be shown once and never stored or logged."""

    user: User
    path: str
    expires_at: object  # an aware datetime

    @property
    def valid_for(self) -> timedelta:
        return timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)


@dataclass(frozen=True)
class UserChange:
    changed: list[str] = field(default_factory=list)
    roles_before: list[str] = field(default_factory=list)
    roles_after: list[str] = field(default_factory=list)


# --- roles -----------------------------------------------------------------------------------


def roles_of(user: User) -> list[str]:
    """The user's roles, read from the database (not the per-request cache in roles.py)."""
    return sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


def _set_roles(user: User, roles: list[str]) -> None:
    """Make the user's role groups exactly `roles`; groups that are not roles stay as they are."""
    wanted = set(roles)
    unknown = wanted - set(ROLES)
    if unknown:
        raise UserInvalid({"roles": f"Unknown role: {', '.join(sorted(unknown))}."})
    user.groups.remove(*Group.objects.filter(name__in=set(ROLES) - wanted))
    user.groups.add(*Group.objects.filter(name__in=wanted))
    user.__dict__.pop("_portal_roles", None)


def lock_active_admins() -> set[int]:
    """Lock the admin role and its active members until the transaction ends; their ids.

    Every change that could leave the portal without an admin calls this first. The admin
    group's row is the mutex: a second caller waits here until the first commits, and then, in
    a statement of its own, sees what the first did. The members are locked too, so a change
    made elsewhere without this function (a deactivation through the ORM) is waited for as well.
    On SQLite there are no row locks, but IMMEDIATE transactions take the write lock at BEGIN.

    FOR NO KEY UPDATE, not FOR UPDATE: these locks still exclude each other, but not the key
    share lock that inserting an access event takes on its actor's row. With FOR UPDATE, a
    locked admin's own audited request would hold the access log's lock while waiting for our
    row, and we would wait for the log's lock to record our change: a deadlock.
    """
    group = Group.objects.select_for_update(no_key=True).filter(name=ADMIN).first()
    if group is None:
        return set()
    members = (
        User.objects.select_for_update(of=("self",), no_key=True)
        .filter(groups=group, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return set(members)


def _refuse_if_last_admin(user: User, doing: str) -> None:
    """Refuse `doing` when it would take away the portal's only active admin."""
    admins = lock_active_admins()
    if admins == {user.pk}:
        raise Refused(
            f"{user.get_username()} is the only active admin, so the portal would be left "
            f"without one: cannot {doing}. Give another user the admin role first."
        )


def _locked(user: User) -> User:
    # no_key: see lock_active_admins; the user may be writing to the access log right now.
    return User.objects.select_for_update(no_key=True).get(pk=user.pk)


# --- create and invite -----------------------------------------------------------------------


def _check_username(username: str) -> None:
    # Django's uniqueness is case-sensitive; "Alice" beside "alice" would read as one person
    # in the access log, so the portal refuses it.
    if User.objects.filter(username__iexact=username).exists():
        raise UserInvalid({"username": f"A user named {username!r} exists already."})


def user_create(
    *,
    username: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    roles: list[str] = (),
    password: str | None = None,
    actor: User | None = None,
    request=None,
    via: str = "",
) -> User:
    """Create a user with the roles given; no password means no usable one (invite them).

    The password, when given, must have passed the validators already (the forms and the
    command do it, with the user's details, as the similarity validator needs them).
    """
    roles = sorted(set(roles))
    try:
        with transaction.atomic():
            _check_username(username)
            user = User(username=username, first_name=first_name, last_name=last_name, email=email)
            user.set_password(password)  # None sets an unusable password
            user.save()
            _set_roles(user, roles)
            details = {
                "username": username,
                "roles": roles,
                "password": "set" if password else "invitation",
            }
            if via:
                details["via"] = via
            record("user.create", request=request, actor=actor, obj=user, details=details)
    except IntegrityError:
        # Another request created the same username between our check and our insert.
        raise UserInvalid({"username": f"A user named {username!r} exists already."}) from None
    return user


def _uid(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def user_from_uid(uidb64: str) -> User | None:
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    return User.objects.filter(pk=pk).first()


def invitation_valid(user: User | None, token: str) -> bool:
    return bool(user is not None and user.is_active and invite_tokens.check_token(user, token))


@transaction.atomic
def user_invite(user: User, *, actor: User | None = None, request=None) -> Invitation:
    """A new set-password link for the user; any earlier link and any password stop working.

    Giving the user a fresh unusable password changes what the token covers, so older links
    are spent, and it changes the session hash, so the user's open sessions end.
    """
    user = _locked(user)
    if not user.is_active:
        raise Refused(f"{user.get_username()} is deactivated: reactivate them first.")
    if actor is not None and actor.pk == user.pk:
        raise Refused("You cannot reset your own password here.")
    had_password = user.has_usable_password()
    user.set_unusable_password()
    user.save(update_fields=["password"])
    token = invite_tokens.make_token(user)
    path = reverse("accounts:set_password", kwargs={"uidb64": _uid(user), "token": token})
    expires_at = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    # Never the link or the token: whoever reads the log must not be able to use them.
    record(
        "user.invite",
        request=request,
        actor=actor,
        obj=user,
        details={
            "username": user.get_username(),
            "expires_at": expires_at.isoformat(timespec="seconds"),
            "replaced_password": had_password,
        },
    )
    return Invitation(user=user, path=path, expires_at=expires_at)


@transaction.atomic
def password_set(user: User, token: str, form, *, request=None) -> bool:
    """Set the invitee's password from a validated SetPasswordForm; False if the link is spent.

    The token is checked again on the locked row, so two submissions of one link set the
    password once: the first changes the hash the token covers, and the second is refused.
    """
    user = _locked(user)
    if not invitation_valid(user, token):
        return False
    form.user = user
    form.save()
    record(
        "user.password_set",
        request=request,
        actor=user,
        obj=user,
        details={"username": user.get_username(), "via": "invitation"},
    )
    return True


# --- change ----------------------------------------------------------------------------------

DETAIL_FIELDS = ("first_name", "last_name", "email")


def user_update(
    user: User,
    *,
    roles: list[str],
    actor: User | None = None,
    request=None,
    **details: str,
) -> UserChange:
    """Change a user's roles and details; refuses to remove the only active admin's role."""
    unknown = set(details) - set(DETAIL_FIELDS)
    if unknown:
        raise TypeError(f"Not a user detail: {', '.join(sorted(unknown))}")
    roles = sorted(set(roles))
    with transaction.atomic():
        if ADMIN not in roles:
            # Lock before reading the user's roles, so what we read cannot change under us.
            _refuse_if_last_admin(user, "remove their admin role")
        user = _locked(user)
        before = roles_of(user)
        changed = [name for name, value in details.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, details[name])
        if changed:
            user.save(update_fields=changed)
        if roles != before:
            _set_roles(user, roles)
            changed.append("roles")
        change = UserChange(changed=changed, roles_before=before, roles_after=roles)
        if changed:
            record(
                "user.update",
                request=request,
                actor=actor,
                obj=user,
                details={
                    "username": user.get_username(),
                    "changed": changed,
                    "roles_before": before,
                    "roles_after": roles,
                },
            )
    return change


def user_deactivate(user: User, *, actor: User | None = None, request=None) -> int:
    """Deactivate a user and end their sessions; returns how many sessions were ended.

    Refused for oneself and for the only active admin. False when already inactive.
    """
    if actor is not None and actor.pk == user.pk:
        raise Refused("You cannot deactivate your own account. Ask another admin.")
    with transaction.atomic():
        _refuse_if_last_admin(user, "deactivate them")
        user = _locked(user)
        if not user.is_active:
            return 0
        user.is_active = False
        user.save(update_fields=["is_active"])
        ended = end_sessions(user)
        record(
            "user.deactivate",
            request=request,
            actor=actor,
            obj=user,
            details={"username": user.get_username(), "sessions_ended": ended},
        )
    return ended


@transaction.atomic
def user_reactivate(user: User, *, actor: User | None = None, request=None) -> bool:
    """Let a deactivated user sign in again; False when they were active already."""
    user = _locked(user)
    if user.is_active:
        return False
    user.is_active = True
    user.save(update_fields=["is_active"])
    record(
        "user.reactivate",
        request=request,
        actor=actor,
        obj=user,
        details={"username": user.get_username()},
    )
    return True


def end_sessions(user: User) -> int:
    """Delete the user's stored sessions, so a reactivation does not revive them.

    Signing a deactivated user out does not depend on this: ModelBackend.get_user() returns
    no user for an inactive account on every request, so their next request is anonymous.
    But the session would stay, and work again after a reactivation. Sessions are not indexed
    by user, so the unexpired ones are decoded; engines without a table (cache, cookies) keep
    theirs until they expire, still refused while the user is inactive.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        return 0
    sessions = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    ended = 0
    for session in sessions.iterator(chunk_size=500):
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            store(session.session_key).delete()
            ended += 1
    return ended
