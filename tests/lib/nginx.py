"""nginx (Debian's nginx-light) run on a configuration, for the tests and the range benchmark."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

MAIN_CONF = """\
{user}
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
{http}
}}
"""


def nginx_installed() -> bool:
    return Path(NGINX).exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def process(args: list[str], env: dict | None = None, log: Path | None = None):
    """A child process in a session of its own, until the block ends."""
    out = log.open("wb") if log else subprocess.DEVNULL
    child = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)  # fmt: skip
    try:
        yield child
    finally:
        # Only what we started: the child's own process group (gunicorn's or nginx's workers).
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if log:
            out.close()


@contextmanager
def running_nginx(http: str, tmp: Path, ports: list[int], workers: str = "auto"):
    """nginx with `http` inside its http block, until the block ends; checked with -t first."""
    # Stored recordings are 0600 (mkstemp), so nginx's workers must be the portal's own user:
    # as root, nginx would otherwise drop to "nobody" and read nothing.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(MAIN_CONF.format(user=user, workers=workers, tmp=tmp, http=http))
    command = [NGINX, "-c", str(conf), "-p", str(tmp)]
    check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    assert check.returncode == 0, f"nginx refuses the configuration:\n{check.stderr}"
    with process(command, log=tmp / "nginx.log") as child:
        deadline = time.monotonic() + 30
        while not all(map(_accepting, ports)):
            assert child.poll() is None, (tmp / "nginx.log").read_text()
            assert time.monotonic() < deadline, "nginx did not start listening in 30 s"
            time.sleep(0.05)
        yield
