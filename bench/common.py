"""What the benchmarks share: a database of their own, Django set up on it, the simulators."""

from __future__ import annotations

import os
import platform
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portal_bench"


def setup_django(
    database_url: str | None = None, media_root: str | None = None, migrate: bool = True
) -> str:
    """Point Django at the benchmark database (created and migrated if needed)."""
    url = database_url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("VENDOR_ALLOW_PRIVATE_NETWORKS", "true")
    os.environ["MEDIA_ROOT"] = media_root or str(ROOT / "data" / "bench-media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recordings_portal.settings")
    if url.startswith("postgres"):
        _create_database(url)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    return url


def _create_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


@contextmanager
def timed():
    result = {}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
