"""docker-compose.yml: valid for Compose, and refusing to start without its secrets."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


COMPOSE = compose_command()
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="no Compose here (apt-get install docker-compose)"
)
SECRETS = {"POSTGRES_PASSWORD": "pw", "SECRET_KEY": "k" * 50, "FERNET_KEYS": "f" * 44}


def config(env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    # Not the portal's own .env beside it (Compose would read its SECRET_KEY): only `env`.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = [*COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(empty),
               "config"]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", **env}
    return subprocess.run(command, env=env, capture_output=True, text=True)


@needs_compose
def test_the_compose_file_validates_with_its_services_health_checks_and_media_volume(tmp_path):
    result = config(SECRETS, tmp_path)
    assert result.returncode == 0, result.stderr
    for service in ("postgres:", "redis:", "web:", "worker:", "beat:"):
        assert f"  {service}" in result.stdout
    assert result.stdout.count("healthcheck:") >= 3
    assert "media" in result.stdout


@needs_compose
def test_the_compose_file_names_the_secret_it_is_missing(tmp_path):
    result = config({k: v for k, v in SECRETS.items() if k != "SECRET_KEY"}, tmp_path)
    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr
