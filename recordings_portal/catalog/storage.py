"""Where recordings live: a folder on disk, written atomically.

A key names a file below MEDIA_ROOT. A file appears under its key only when complete and
fsynced (written to a temporary name in the same folder tree, then renamed), so a reader or a
crash never sees half a recording. Only this module turns keys into paths.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

TEMP_DIR = ".incoming"


class StorageError(Exception):
    pass


def root() -> Path:
    return Path(settings.MEDIA_ROOT)


def path(key: str) -> Path:
    """The file behind a key; refuses keys that would escape the storage root."""
    base = root().resolve()
    target = (base / key).resolve()
    if base not in target.parents:
        raise StorageError(f"Refused storage key {key!r}: it leaves the storage folder.")
    return target


@contextmanager
def incoming(suffix: str = ""):
    """A temporary file on the storage filesystem (so the final rename is atomic).

    Yields (file object, path); the file is removed on the way out unless it was committed.
    """
    folder = root() / TEMP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, suffix=suffix)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w+b") as stream:
            yield stream, temporary
    finally:
        temporary.unlink(missing_ok=True)


def commit(temporary: Path, key: str) -> None:
    """Move a complete temporary file under its key, durably."""
    target = path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    with temporary.open("rb") as stream:
        os.fsync(stream.fileno())
    os.replace(temporary, target)
    _fsync_dir(target.parent)


def write_bytes(key: str, data: bytes) -> None:
    with incoming() as (stream, temporary):
        stream.write(data)
        stream.flush()
        commit(temporary, key)


def read_bytes(key: str) -> bytes:
    return path(key).read_bytes()


def exists(key: str) -> bool:
    return bool(key) and path(key).exists()


def size(key: str) -> int:
    return path(key).stat().st_size


def delete(key: str) -> None:
    if not key:
        return
    target = path(key)
    target.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sweep_incoming(older_than_seconds: float) -> int:
    """Remove temporary files nobody has written to for a while (their writer died)."""
    folder = root() / TEMP_DIR
    if not folder.exists():
        return 0
    cutoff, removed = time.time() - older_than_seconds, 0
    for leftover in folder.iterdir():
        if leftover.is_file() and leftover.stat().st_mtime < cutoff:
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


def used_bytes() -> int:
    total = 0
    for folder, _, files in os.walk(root()):
        if TEMP_DIR in Path(folder).parts:
            continue
        total += sum((Path(folder) / name).stat().st_size for name in files)
    return total
