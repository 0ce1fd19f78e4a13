"""The Nginx of docker-compose.yml: its pinned version checks and runs the shipped config.

Docker cannot run here, so the compose service's nginx (Debian 12's package, pinned in
deploy/nginx/Dockerfile) is this machine's nginx, started as a real process on the shipped
nginx.conf with the compose include in place of the local worker list, and `nginx -t`
checks the TLS lines as they read once uncommented.
"""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.support import free_port, needs
from tests.support.cluster import NGINX_CONF, WORKERS_INCLUDE
from tests.support.services import REPO_ROOT, prepare_nginx_conf

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
NGINX_DOCKERFILE = REPO_ROOT / "deploy" / "nginx" / "Dockerfile"
COMPOSE_INCLUDE = REPO_ROOT / "deploy" / "nginx" / "workers.compose.conf"
_LISTEN = re.compile(r"^(\s*)listen\s+8080;", re.MULTILINE)
# The commented TLS block: its run of `# directive;` lines after "# TLS:".
_TLS_BLOCK = re.compile(r"^[ \t]*# TLS:.*\n(?:[ \t]*#.*\n)+", re.MULTILINE)
_DIRECTIVE = re.compile(r"^(\s*)# ([a-z_0-9]+ [^\n]*;)$", re.MULTILINE)


def pinned_version() -> str:
    """The nginx version the compose file runs: its image tag, as its Dockerfile installs."""
    service = COMPOSE["services"]["nginx"]
    assert service["build"] == "deploy/nginx"
    tag = service["image"].rpartition(":")[2]
    installed = re.search(r"'nginx=([\d.]+)-\*'", NGINX_DOCKERFILE.read_text())
    assert installed and installed[1] == tag, "the image tag names the version it installs"
    return tag


@pytest.fixture
def pinned_nginx(nginx_bin: str) -> str:
    """This machine's nginx, when it is the version the compose file pins."""
    shown = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True, check=True)
    found = re.search(r"nginx/([\d.]+)", shown.stderr)
    assert found, shown.stderr
    if found[1] != pinned_version():
        needs(
            f"Nginx {pinned_version()}",
            f"the compose file pins nginx {pinned_version()}, this machine has {found[1]}",
        )
    return nginx_bin


def compose_conf(workdir: Path, listen_port: int) -> str:
    """nginx.conf moved to 127.0.0.1:listen_port, with the compose include as its workers."""
    conf, found = _LISTEN.subn(rf"\1listen 127.0.0.1:{listen_port};", NGINX_CONF.read_text())
    assert found == 1
    include = workdir / WORKERS_INCLUDE
    include.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(COMPOSE_INCLUDE, include)
    return conf


def nginx_test(nginx: str, conf_text: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on conf_text, its files kept in workdir."""
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "tmp" / temp).mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(prepare_nginx_conf(conf_text, workdir))
    argv = [nginx, "-t", "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


async def test_the_pinned_nginx_runs_the_shipped_config_with_the_compose_include(
    pinned_nginx: str, nginx_factory: Any, tmp_path: Path
) -> None:
    workdir = tmp_path / "nginx"
    port = free_port()
    conf = compose_conf(workdir, port)
    checked = nginx_test(pinned_nginx, conf, workdir)
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr

    nginx = await nginx_factory(conf, workdir=workdir)
    # Nginx answers an absurd upload itself, in the API's error shape: the config is live.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(
            f"http://127.0.0.1:{port}/api/rooms",
            data=b"x" * 40_000,
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 413
            body = await resp.json()
    assert body["error"]["code"] == "payload_too_large"
    assert "[emerg]" not in nginx.error_log() and "[warn]" not in nginx.error_log()


def test_the_commented_tls_lines_are_valid_for_the_pinned_nginx(
    pinned_nginx: str, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        needs("openssl", "openssl is not on PATH (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=timers.example.com", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    conf = compose_conf(tmp_path / "nginx", free_port())
    tls_port = free_port()

    def uncomment(match: re.Match[str]) -> str:
        line = match[2].replace("443", f"127.0.0.1:{tls_port}", 1)
        line = re.sub(r"/etc/letsencrypt/\S+/fullchain\.pem", str(cert), line)
        line = re.sub(r"/etc/letsencrypt/\S+/privkey\.pem", str(key), line)
        return match[1] + line

    block = _TLS_BLOCK.search(conf)
    assert block, "nginx.conf keeps its commented TLS block"
    lines, found = _DIRECTIVE.subn(uncomment, block[0])
    assert found >= 4 and "listen" in lines, lines
    tls = conf.replace(block[0], lines)
    assert "ssl_certificate " in tls and str(cert) in tls
    checked = nginx_test(pinned_nginx, tls, tmp_path / "nginx")
    assert checked.returncode == 0, checked.stderr
    # No deprecation: the listen syntax is the one this version documents.
    assert "[warn]" not in checked.stderr, checked.stderr
