"""The four roles, what each may do, and the checks views use.

A role is a Django group holding permissions; views check permissions (`capability`), so a
user with two roles simply has the union. ROLE_PERMISSIONS is the one place to change them.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

SUPERVISOR, COMPLIANCE, ADMIN, AUDITOR = "supervisor", "compliance", "admin", "auditor"
ROLES = (SUPERVISOR, COMPLIANCE, ADMIN, AUDITOR)
ROLE_DESCRIPTIONS = {
    SUPERVISOR: "Search and play recordings",
    COMPLIANCE: "Approve masking and deletion; legal hold",
    ADMIN: "Vendor accounts and users",
    AUDITOR: "Read, verify and export the access log",
}

_BROWSE = ["catalog.browse_recordings", "catalog.play_recording", "compliance.request_masking"]
ROLE_PERMISSIONS: dict[str, list[str]] = {
    SUPERVISOR: _BROWSE,
    COMPLIANCE: [
        *_BROWSE,
        "compliance.approve_masking",
        "compliance.delete_recordings",
        "compliance.hold_recordings",
        "compliance.manage_retention",
    ],
    ADMIN: [
        *_BROWSE,
        "compliance.delete_recordings",
        "compliance.manage_retention",
        "vendors.view_vendoraccount",
        "vendors.add_vendoraccount",
        "vendors.change_vendoraccount",
        "vendors.delete_vendoraccount",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
    ],
    AUDITOR: ["audit.view_access_log", "audit.export_access_log"],
}


def sync_role_groups(apps) -> None:
    """Create the role groups and give each exactly its permissions (idempotent)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                wanted.append(permission)
        group.permissions.set(wanted)


def user_roles(user) -> list[str]:
    if not user.is_authenticated:
        return []
    if not hasattr(user, "_portal_roles"):
        user._portal_roles = sorted(
            user.groups.filter(name__in=ROLES).values_list("name", flat=True)
        )
    return user._portal_roles


def has_role(user, *roles: str) -> bool:
    return bool(user.is_active and set(user_roles(user)) & set(roles))


def capability(*perms: str):
    """View decorator: 403 unless the (logged-in) user holds every permission named."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
