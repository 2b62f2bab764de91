"""Run the whole product on one machine: simulators, web server, Celery worker and beat."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from recordings_portal.demo.connect import connect


class Command(BaseCommand):
    help = "Migrate, create demo users and vendor accounts, then run every process of the demo."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--simulator-port", type=int, default=8900)

    def handle(self, *args, port, simulator_port, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        python, manage = sys.executable, str(settings.BASE_DIR / "manage.py")
        simulators_url = f"http://127.0.0.1:{simulator_port}"
        env = {**os.environ, "VENDOR_ALLOW_PRIVATE_NETWORKS": "true"}
        if not settings.REDIS_URL:
            self.stdout.write(
                f"No REDIS_URL set: Celery uses the embedded broker in {settings.BROKER_DIR}. "
                "Set REDIS_URL=redis://... to use Redis."
            )
            for folder in ("queue", "processed", "control"):
                (settings.BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
        celery = [python, "-m", "celery", "-A", "recordings_portal"]
        processes = {
            "simulators": [
                python, manage, "run_simulators", "--port", str(simulator_port), "--warm",
            ],
            "web": [
                python, "-m", "gunicorn", "recordings_portal.wsgi",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                "--access-logfile", "-",
            ],
            "worker": [*celery, "worker", "-Q", "default,sync,media", "-c", "2", "-l", "INFO"],
            "beat": [
                *celery, "beat", "-l", "INFO",
                "-s", str(settings.DATA_DIR / "celerybeat-schedule"),
            ],
        }  # fmt: skip
        running = Supervisor(self.stdout, env)
        try:
            running.start("simulators", processes.pop("simulators"))
            wait_for(f"{simulators_url}/_control/accounts")
            os.environ["VENDOR_ALLOW_PRIVATE_NETWORKS"] = "true"
            settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
            call_command("demo_setup", simulators=simulators_url)
            for name, command in processes.items():
                running.start(name, command)
            wait_for(f"http://127.0.0.1:{port}/accounts/login/")
            self.stdout.write("Connecting the demo vendor accounts:")
            connect(simulators_url, f"http://127.0.0.1:{port}", self.stdout.write)
            self.stdout.write(
                f"\nRecordings Portal: http://127.0.0.1:{port}/  (sign in with a demo user above; "
                "Ctrl-C stops everything)\n"
            )
            running.wait()
        finally:
            running.stop()


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise CommandError(f"{url} did not answer within {seconds:.0f} s; see the output above.")


class Supervisor:
    """Child processes with prefixed output; when one exits, everything stops."""

    def __init__(self, stdout, env):
        self.stdout, self.env = stdout, env
        self.children: dict[str, subprocess.Popen] = {}
        self.exited = threading.Event()

    def start(self, name: str, command: list[str]) -> None:
        child = subprocess.Popen(  # noqa: S603 - our own fixed command lines
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.children[name] = child
        threading.Thread(target=self._pump, args=(name, child), daemon=True).start()

    def _pump(self, name: str, child: subprocess.Popen) -> None:
        for line in child.stdout:
            self.stdout.write(f"{name:>10} | {line.rstrip()}")
        child.wait()
        self.stdout.write(f"{name:>10} | exited with status {child.returncode}")
        self.exited.set()

    def wait(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.exited.set())
        with contextlib.suppress(KeyboardInterrupt):
            self.exited.wait()

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        for child in self.children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
