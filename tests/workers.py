"""Real Celery workers for the tests: in a thread, or as a separate process a test can kill."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connections

from recordings_portal.celery import app

ROOT = Path(__file__).resolve().parent.parent
QUEUES = ["default", "sync", "media"]


def purge_queues() -> None:
    with app.connection_for_write() as connection:
        for queue in QUEUES:
            # A queue that does not exist yet holds nothing to purge.
            with connection.channel() as channel, contextlib.suppress(Exception):
                channel.queue_purge(queue)


@contextmanager
def thread_worker(concurrency: int = 2):
    """The real worker, consuming the real broker, in this process (sees the test database)."""
    purge_queues()
    with start_worker(
        app,
        pool="threads",
        concurrency=concurrency,
        queues=QUEUES,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=20,
    ) as worker:
        yield worker
    connections.close_all()


def database_url() -> str:
    """The test database as a URL, for a worker in another process."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """`celery worker` in a child process with a prefork pool, so a test can kill its child."""

    def __init__(self, **env):
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "VENDOR_ALLOW_PRIVATE_NETWORKS": "true",
            "DJANGO_SETTINGS_MODULE": "recordings_portal.settings",
            **{key: str(value) for key, value in env.items()},
        }
        command = [
            sys.executable, "-m", "celery", "-A", "recordings_portal", "worker",
            "-Q", ",".join(QUEUES), "--pool", "prefork", "-c", "1", "-l", "INFO",
            "--without-heartbeat", "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip

    def pool_children(self) -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def kill_child(self) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            children = self.pool_children()
            if children:
                os.kill(children[0], signal.SIGKILL)
                return children[0]
            time.sleep(0.1)
        raise AssertionError("the worker never started a pool process")

    def stop(self) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.stdout.read()
