"""The container's web role (docker/entrypoint.sh → migrate → manage.py serve) on a read-only filesystem.

No Docker engine runs here, so the test rebuilds the conditions the compose file sets: in a private mount namespace
everything the process could write to (code, virtualenv, interpreter, /etc, /var, home) is remounted read-only, /tmp
is an empty tmpfs and static files are collected beforehand (the image build), then made read-only too. Production
settings, two web workers (Prometheus multiprocess files under /tmp), the audit archive on a writable path standing
in for its volume. Needs root (mount namespaces); skipped otherwise.
"""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import ROOT, _wait_for_port, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or not shutil.which("unshare"),
                       reason="needs root and unshare for a private mount namespace"),
]

SCRIPT = r"""
set -eu
mkdir -p "$ROOT/staticfiles"  # the mount point (git-ignored)
# The checkout may itself live under /tmp, which the tmpfs below hides: serve it from its own mount point.
APP=/run/gatehouse-readonly-root
mkdir -p "$APP"
mount --bind "$ROOT" "$APP"
ROOT="$APP"
export PATH="$APP/.venv/bin:$PATH"
cd "$ROOT"
for dir in /work /root /usr /etc /opt /var /home "$ROOT" "$(dirname "$(readlink -f "$(command -v python)")")/.."; do
    [ -d "$dir" ] || continue
    mount --bind "$dir" "$dir"
    mount -o remount,bind,ro "$dir"
done
# The image build: static files collected into their own filesystem (mounted after the read-only binds, which
# would hide it), which then turns read-only like the rest.
mount -t tmpfs tmpfs staticfiles
python manage.py collectstatic --noinput -v 0
mount -o remount,ro staticfiles
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir /tmp/audit-archive
exec docker/entrypoint.sh web --host 127.0.0.1 --port "$PORT" --log-level info
"""


def _production_env(port: int, metrics_token: str) -> dict[str, str]:
    venv_bin = str(Path(ROOT / ".venv" / "bin"))
    return {
        "PATH": f"{venv_bin}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "ROOT": str(ROOT),
        "PORT": str(port),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "GATEHOUSE_ENCRYPTION_KEYS": "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "GATEHOUSE_TOKEN_PEPPERS": "p1:" + secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": "sqlite:////tmp/gatehouse.sqlite3",  # PostgreSQL in compose; here inside the tmpfs
        "AUDIT_ARCHIVE_DIR": "/tmp/audit-archive",  # the volume in compose
        "SECURE_SSL_REDIRECT": "false",
        "METRICS_TOKEN": metrics_token,
        "WEB_CONCURRENCY": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def test_web_role_serves_from_a_read_only_root_and_stops_cleanly(tmp_path: Path):
    port = free_port()
    metrics_token = secrets.token_urlsafe(24)
    log = tmp_path / "web.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT],
            env=_production_env(port, metrics_token), stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            _wait_for_port(port, process, timeout=120)
            base = f"http://127.0.0.1:{port}"
            with httpx2.Client(base_url=base, timeout=10) as http:
                assert http.get("/health").status_code == 200
                assert http.get("/ready").status_code == 200
                login = http.get("/accounts/login/")
                assert login.status_code == 200, log.read_text()[-4000:]
                assert "/static/" in login.text  # templates resolve static files through the build's manifest
                assert http.get("/static/admin/css/base.css").status_code == 200
                scraped = http.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
                assert scraped.status_code == 200
                names = {family.name for family in text_string_to_metric_families(scraped.text)}
                assert {"gatehouse_upstream_up", "gatehouse_mcp_sessions_active"} <= names  # read from /tmp/prometheus
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=40) == 0
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    text = log.read_text()
    assert "Read-only file system" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "Application shutdown complete." in text
