"""Reading settings from the environment, and the local env file that keeps generated secrets."""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def envbool(name: str, default: str = "False") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def load_env_file(path: Path) -> None:
    """Put KEY=VALUE lines of `path` into os.environ, without overriding what is already set."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip())


def ensure_local_secrets(path: Path) -> None:
    """Generate SECRET_KEY and FERNET_KEYS into a git-ignored file the first time, once.

    Production sets both in the environment; a laptop or the demo gets stable keys without
    anyone committing one.
    """
    wanted = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(50),
        "FERNET_KEYS": lambda: Fernet.generate_key().decode(),
    }
    missing = {key: make() for key, make in wanted.items() if not os.environ.get(key)}
    if not missing:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat start together on first run: the lock makes one of them write.
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        os.chmod(path, 0o600)
        load_env_file(path)
        for key, value in missing.items():
            if not os.environ.get(key):
                handle.write(f"{key}={value}\n")
                os.environ[key] = value
