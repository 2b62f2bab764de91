"""Headers and deployment settings every response and every production install relies on."""

import os
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def test_every_page_carries_a_strict_content_security_policy(client, users):
    client.force_login(users["supervisor"])
    for url in (reverse("accounts:login"), reverse("dashboard:home"), "/healthz"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "'unsafe-inline'" not in policy
        assert "'unsafe-eval'" not in policy
        assert "frame-ancestors 'none'" in policy


def test_pages_have_no_inline_scripts_or_styles(client, users):
    client.force_login(users["admin"])
    for url in (reverse("accounts:login"), reverse("dashboard:home")):
        html = client.get(url).content.decode()
        assert "<script>" not in html
        assert " style=" not in html
        assert " onclick=" not in html


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "PORTAL_HTTPS": "true",
        "SECRET_KEY": "k" * 20 + "-production-like-" + "x" * 30,
        "PORTAL_ENV_FILE": str(tmp_path / ".env"),
        "ALLOWED_HOSTS": "recordings.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
