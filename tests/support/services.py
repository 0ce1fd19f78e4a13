"""Finding, probing and starting the real external servers the tests run against."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_DIR = REPO_ROOT / "tests" / "js"
VIEWER_JS = JS_DIR / "viewer.js"
DEFAULT_DATABASE_URL = "postgresql://roomtimer:roomtimer@127.0.0.1:5432/roomtimer_test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def needs(what: str, reason: str) -> NoReturn:
    """Skips the test, or fails it under CI=true, where every service must be present."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


def database_url() -> str:
    """The base PostgreSQL URL for tests (TEST_DATABASE_URL or the CI default)."""
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL


def redis_url() -> str:
    """The Redis URL for tests (TEST_REDIS_URL or the CI default). Under pytest-xdist each
    worker gets the next database number (gw0 the one named, gw1 the one after), so that a
    test's flush never empties another's."""
    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    worker = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    if worker is None:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + int(worker.group(1))}"))


def with_database(url: str, name: str) -> str:
    """The same PostgreSQL URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(base_url: str) -> str:
    """Creates an empty `roomtimer_t_<random>` database and returns its URL."""
    name = f"roomtimer_t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(base_url, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(base_url, name)


async def drop_database(base_url: str, url: str) -> None:
    """Drops the database of `url`, closing whatever connections it still has."""
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(base_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except asyncpg.InsufficientPrivilegeError:
        # FORCE may not end an autovacuum worker without pg_signal_backend (.ci/run grants it);
        # a plain DROP cancels autovacuum itself once our own sessions are gone.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


async def probe_postgres(url: str) -> str | None:
    """None when PostgreSQL answers at url, else why not."""
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {redact(url)} is unreachable: {exc}"
    await conn.close()
    return None


async def probe_redis(url: str) -> str | None:
    """None when Redis answers PING at url, else why not."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        return f"Redis at {redact(url)} is unreachable: {exc}"
    finally:
        await client.aclose()
    return None


async def flush_redis(url: str) -> None:
    """Empties the one Redis database that url names."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def find_nginx() -> str | None:
    """The nginx executable, or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def find_chromium() -> str | None:
    """The Chromium executable, or None."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


# Chromium as root on a machine with loopback networking only (Playwright adds --headless).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these it dials Google's hosts, which this network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_command(chromium: str, user_data_dir: Path) -> list[str]:
    """Headless Chromium that works as root on a machine with loopback networking only."""
    return [chromium, "--headless", *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"]


def find_node() -> str | None:
    """The node executable, or None."""
    return shutil.which("node")


def js_client_missing() -> str | None:
    """None when node and tests/js's socket.io-client are installed, else why not."""
    if find_node() is None:
        return "node is not on PATH"
    if not (JS_DIR / "node_modules" / "socket.io-client" / "package.json").is_file():
        return "tests/js/node_modules has no socket.io-client: run `npm ci` in tests/js"
    return None


async def wait_for_port(port: int, *, deadline_s: float, alive: subprocess.Popen[bytes]) -> None:
    """Polls until port accepts connections; raises if `alive` exits or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while not await port_open(port):
        if alive.poll() is not None:
            raise RuntimeError(f"exited with {alive.returncode} before port {port} opened")
        if time.monotonic() > deadline:
            raise TimeoutError(f"port {port} did not open within {deadline_s} s")
        await asyncio.sleep(0.05)


async def stop_process(
    proc: subprocess.Popen[bytes], sig: int, timeout: float, last: int = signal.SIGKILL
) -> int:
    """Sends sig, waits up to timeout for the exit, then sends `last` (SIGABRT: a Python
    process with faulthandler on prints its threads' stacks first) and SIGKILLs; returns
    the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(last)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        proc.kill()
        proc.wait()
        raise TimeoutError(f"pid {proc.pid} ignored signal {sig} for {timeout} s: killed")
    return proc.returncode


_MAIN_DIRECTIVES = ("daemon", "pid", "user", "error_log", "access_log")
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_OWNED = "|".join([*_MAIN_DIRECTIVES, *(f"{t}_temp_path" for t in _TEMP_PATHS)])
# Each directive where it starts a line or follows `{` or `;` (`location / { access_log off; }`).
_STRIPPED = re.compile(r"(^|[{;])[ \t]*(?:" + _OWNED + r")\s[^;{}]*;", re.MULTILINE)
_LISTEN = re.compile(r"^\s*listen\s+(?:[\w.\[\]:]*:)?(\d+)\b", re.MULTILINE)


def prepare_nginx_conf(conf_text: str, workdir: Path) -> str:
    """Rewrites a config so every file nginx writes (pid, logs, temp) lands in workdir."""
    text = _STRIPPED.sub(r"\1", conf_text)
    head = [f"pid {workdir}/nginx.pid;", f"error_log {workdir}/error.log info;"]
    if os.geteuid() == 0:
        head.append("user root;")  # workers must read and write the root-owned workdir
    http = [f"access_log {workdir}/access.log;"]
    http += [f"{t}_temp_path {workdir}/tmp/{t};" for t in _TEMP_PATHS]
    text, found = re.subn(
        r"^(\s*http\s*\{)",
        lambda m: m.group(1) + " " + " ".join(http),
        text,
        count=1,
        flags=re.MULTILINE,
    )
    if not found:
        raise ValueError("nginx config has no `http {` block")
    return "\n".join(head) + "\n" + text


def listen_ports(conf_text: str) -> list[int]:
    """The ports of the config's `listen` directives."""
    return sorted({int(port) for port in _LISTEN.findall(conf_text)})


class NginxProcess:
    """A foreground nginx child with its files in its own workdir."""

    def __init__(self, proc: subprocess.Popen[bytes], workdir: Path, ports: list[int]) -> None:
        self.proc = proc
        self.workdir = workdir
        self.ports = ports

    @property
    def pid(self) -> int:
        """The master process id."""
        return self.proc.pid

    def error_log(self) -> str:
        """What nginx has written to its error log and stderr."""
        return "".join(
            path.read_text(errors="replace")
            for path in (self.workdir / "stderr.log", self.workdir / "error.log")
            if path.exists()
        )

    async def stop(self, timeout: float = 10.0) -> int:
        """Fast shutdown (SIGTERM); returns the exit code."""
        return await stop_process(self.proc, signal.SIGTERM, timeout)


async def start_nginx(
    conf_text: str,
    workdir: Path,
    *,
    ports: Iterable[int] | None = None,
    nginx: str | None = None,
    deadline_s: float = 10.0,
) -> NginxProcess:
    """Starts nginx on conf_text (see prepare_nginx_conf) and waits until its ports accept."""
    binary = nginx or find_nginx()
    if binary is None:
        raise FileNotFoundError("nginx is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    for temp in _TEMP_PATHS:
        (workdir / "tmp" / temp).mkdir(parents=True, exist_ok=True)
    mime = Path("/etc/nginx/mime.types")
    if mime.exists() and not (workdir / "mime.types").exists():
        shutil.copy(mime, workdir / "mime.types")  # for a config's `include mime.types;`
    conf = workdir / "nginx.conf"
    conf.write_text(prepare_nginx_conf(conf_text, workdir))
    wanted = sorted(ports) if ports is not None else listen_ports(conf_text)
    if not wanted:
        raise ValueError("no port to wait for: pass ports= or give the config a `listen`")
    with open(workdir / "stderr.log", "ab") as stderr:
        proc = subprocess.Popen(
            [
                binary,
                "-p",
                str(workdir),
                "-c",
                str(conf),
                "-e",
                str(workdir / "error.log"),
                "-g",
                "daemon off;",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    started = NginxProcess(proc, workdir, wanted)
    try:
        for port in wanted:
            await wait_for_port(port, deadline_s=deadline_s, alive=proc)
    except (RuntimeError, TimeoutError) as exc:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise RuntimeError(f"nginx did not start: {exc}\n{started.error_log()}") from None
    return started
