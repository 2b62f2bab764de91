"""Demo users, one per role, with passwords generated once and kept in the data folder."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User

from recordings_portal.accounts.roles import ROLE_DESCRIPTIONS, ROLES


def credentials_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-credentials.json"


def ensure_demo_users() -> dict[str, str]:
    """username -> password for the demo users, creating or repairing them as needed."""
    path = credentials_file()
    known = json.loads(path.read_text()) if path.exists() else {}
    for role in ROLES:
        password = known.get(role) or secrets.token_urlsafe(12)
        user, created = User.objects.get_or_create(username=role, defaults={"is_active": True})
        if created or not user.check_password(password):
            user.set_password(password)
            user.is_active = True
            user.save()
        user.groups.set([Group.objects.get(name=role)])
        known[role] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=2))
    os.chmod(path, 0o600)
    return known


def describe(credentials: dict[str, str]) -> str:
    lines = ["Demo users (passwords kept in " + str(credentials_file()) + "):"]
    for role in ROLES:
        lines.append(f"  {role:11} password {credentials[role]:18} {ROLE_DESCRIPTIONS[role]}")
    return "\n".join(lines)
