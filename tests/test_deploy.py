"""Dockerfile and docker-compose.yml, kept true without Docker.

Docker cannot run here, so the image's command, environment and health check are run as
real processes in the compose topology (two app processes on one PostgreSQL and one
Redis, behind the shipped Nginx), and the compose file is read for what that run relies on.
"""

import asyncio
import contextlib
import inspect
import ipaddress
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio
import yaml

from roomtimer import gunicorn_conf, worker
from tests.support import free_port
from tests.support.app import JWT_SECRET
from tests.support.cluster import (
    RedisServer,
    StartServer,
    admin,
    joined_viewers,
    metric,
    versions,
    wait_until,
    write_nginx_files,
)
from tests.support.server import SERVER_ENV_VARS, ServerProcess
from tests.support.services import REPO_ROOT, NginxProcess

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APPS = sorted(name for name, service in SERVICES.items() if service.get("build") == ".")
COMPOSE_INCLUDE = "deploy/nginx/workers.compose.conf"
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?[-?][^}]*)?\}")


@dataclass
class Image:
    """What the Dockerfile's final stage runs: command, environment, user, health check."""

    stages: int = 0
    env: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)


def read_dockerfile() -> Image:
    text = (REPO_ROOT / "Dockerfile").read_text()
    instructions = [line for line in re.sub(r"\\\n", " ", text).splitlines() if line.strip()]
    image = Image()
    for line in instructions:
        if line.lstrip().startswith("#"):
            continue
        keyword, _, rest = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            image.stages += 1
            image.env, image.user = {}, "root"  # only the final stage is the image
        elif keyword == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                image.env[name] = value
        elif keyword == "USER":
            image.user = rest.strip()
        elif keyword == "CMD":
            image.cmd = json.loads(rest)
        elif keyword == "HEALTHCHECK":
            image.healthcheck = json.loads(rest[rest.index("CMD") + 3 :])
    return image


IMAGE = read_dockerfile()


def app_env(service: str) -> dict[str, str]:
    """A compose app service's environment, ${…} interpolations left as their variable name."""
    env = SERVICES[service]["environment"]
    return {k: _INTERPOLATION.sub(lambda m: m["name"], str(v)) for k, v in env.items()}


def test_the_image_is_multi_stage_non_root_with_a_health_check() -> None:
    assert IMAGE.stages >= 2
    assert IMAGE.user not in ("", "root", "0")
    assert IMAGE.healthcheck and IMAGE.healthcheck[0] == "python"
    assert IMAGE.cmd[0] == "gunicorn"
    known = set(SERVER_ENV_VARS)
    app_settings = {k for k in IMAGE.env if k not in ("PATH", "PYTHONUNBUFFERED")}
    assert app_settings - {"PYTHONDONTWRITEBYTECODE"} <= known, app_settings - known


def test_the_image_command_names_a_single_worker_config_and_the_app_factory() -> None:
    config = IMAGE.cmd[IMAGE.cmd.index("--config") + 1]
    assert config == "python:roomtimer.gunicorn_conf"
    assert IMAGE.cmd[-1] == "roomtimer.worker:app"
    assert inspect.iscoroutinefunction(worker.app)
    assert gunicorn_conf.workers == 1  # one Engine.IO process per upstream address
    assert gunicorn_conf.worker_class == "aiohttp.GunicornUVLoopWebWorker"


def test_compose_runs_two_or_more_workers_on_postgres_and_redis_behind_nginx() -> None:
    assert len(APPS) >= 2, APPS
    for name in APPS:
        service, env = SERVICES[name], app_env(name)
        assert set(env) <= set(SERVER_ENV_VARS), set(env) - set(SERVER_ENV_VARS)
        assert (
            env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
        )
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["APP_ENV"] == "production" and env["JWT_SECRET"] == "JWT_SECRET"
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
    for name in ("postgres", "redis", "nginx"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert "pgdata" in COMPOSE["volumes"]
    assert any(v.startswith("pgdata:") for v in SERVICES["postgres"]["volumes"])
    nginx = SERVICES["nginx"]
    assert set(nginx["depends_on"]) == set(APPS)
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]


def fixed_address(service: str) -> str:
    """The service's fixed address in the compose network."""
    return str(SERVICES[service]["networks"]["default"]["ipv4_address"])


def test_compose_nginx_sends_to_exactly_the_app_services_and_trusts_only_itself() -> None:
    nginx_conf = (REPO_ROOT / "nginx.conf").read_text()
    included = re.search(r"include\s+(\S+);", nginx_conf)
    assert included, "nginx.conf includes its worker list"
    mount = f"./{COMPOSE_INCLUDE}:/etc/nginx/{included[1]}:ro"
    assert mount in SERVICES["nginx"]["volumes"]
    servers = re.findall(
        r"^server\s+([\w.-]+):(\d+)\b", (REPO_ROOT / COMPOSE_INCLUDE).read_text(), re.M
    )
    by_address = {fixed_address(name): name for name in APPS}
    assert sorted(by_address.get(host, host) for host, _ in servers) == APPS
    assert all(port == app_env(by_address[host])["PORT"] for host, port in servers)
    [ipam] = COMPOSE["networks"]["default"]["ipam"]["config"]
    network, dynamic = ipaddress.ip_network(ipam["subnet"]), ipaddress.ip_network(ipam["ip_range"])
    nginx = ipaddress.ip_address(fixed_address("nginx"))
    # One address, Nginx's own: never the network, whose gateway may be every client.
    assert nginx in network and nginx != next(network.hosts())
    # No container Docker numbers by itself can take a fixed address.
    fixed = [ipaddress.ip_address(a) for a in [*by_address, str(nginx)]]
    assert all(a in network and a not in dynamic for a in fixed), fixed
    assert all(app_env(name)["TRUSTED_PROXIES"] == str(nginx) for name in APPS)
    assert len(set(by_address) | {str(nginx)}) == len(APPS) + 1


def test_compose_requires_its_secrets_and_rotates_every_log() -> None:
    raw = (REPO_ROOT / "docker-compose.yml").read_text()
    for secret in ("JWT_SECRET", "POSTGRES_PASSWORD"):
        uses = re.findall(rf"\$\{{{secret}(?P<op>[^}}]*)\}}", raw)
        assert uses and all(op.startswith(":?") for op in uses), (secret, uses)
    for name, service in SERVICES.items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert logging["options"]["max-size"] and int(logging["options"]["max-file"]) >= 2
    # .env holds the secrets: git never sees it, and no image carries it.
    if shutil.which("git") and (REPO_ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO_ROOT, check=False)
        assert ignored.returncode == 0, ".env is not ignored by git"
    else:  # a checkout without git (an unpacked archive): read the file itself
        assert ".env" in (REPO_ROOT / ".gitignore").read_text().splitlines()
    docker_ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in docker_ignored


@pytest_asyncio.fixture
async def redis(tmp_path: Path) -> Any:
    async with RedisServer.running(tmp_path / "redis") as server:
        yield server


def local_env(service: str, postgres_url: str, redis_url: str) -> dict[str, str]:
    """The image's and the service's environment, with this machine's addresses and secret."""
    env = {k: v for k, v in IMAGE.env.items() if k in SERVER_ENV_VARS}
    env |= app_env(service)
    env |= {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": JWT_SECRET,
        "TRUSTED_PROXIES": "127.0.0.1",  # Nginx runs on loopback here
        "RATE_LIMIT_MAX_REQUESTS": "100000",
        "LOG_LEVEL": "warning",
        "CORS_ORIGIN": "",
    }
    del env["HOST"], env["PORT"]  # ServerProcess sets them for its port
    return env


def image_command() -> list[str]:
    """The image's CMD, with the executable from this virtualenv."""
    return [str(Path(sys.executable).with_name(IMAGE.cmd[0])), *IMAGE.cmd[1:]]


async def health_check(server: ServerProcess) -> int:
    """Exit status of the image's HEALTHCHECK command run against server."""
    argv = [sys.executable, *IMAGE.healthcheck[1:]]
    env = {"PORT": str(server.port), "PATH": "/usr/bin:/bin"}
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stderr=subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 10)


async def test_the_image_command_serves_the_compose_topology_and_stops_gracefully(
    postgres_url: str,
    redis: RedisServer,
    server_factory: StartServer,
    nginx_factory: Any,
    tmp_path: Path,
) -> None:
    # Where gunicorn would put its control socket: nothing may appear there.
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    private = {"XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    workers = list(
        await asyncio.gather(
            *(
                server_factory(
                    local_env(name, postgres_url, redis.url) | private, command=image_command()
                )
                for name in APPS
            )
        )
    )
    for server in workers:
        assert "gunicorn" in server.stderr().lower()  # gunicorn's own start-up lines
        assert_json_lines(server.stderr())  # in production, gunicorn's lines too
        assert await health_check(server) == 0
    assert list(runtime.rglob("*")) == [], "gunicorn opened a control socket"
    port = free_port()
    nginx: NginxProcess = await nginx_factory(
        write_nginx_files(tmp_path / "nginx", port, [w.port for w in workers]),
        workdir=tmp_path / "nginx",
    )
    assert nginx.pid
    url = f"http://127.0.0.1:{port}"
    async with contextlib.AsyncExitStack() as stack, admin(url) as api:
        room = await api.room()
        timer = await api.timer(room["id"])
        viewers = [(await joined_viewers(stack, w.url, room["shareToken"]))[0] for w in workers]
        reply = await api.command(timer["id"], "start")
        assert reply.status == 200, reply.body

        async def everyone_got_it() -> bool:
            return all(
                versions(v.received, timer["id"]) == [reply.body["version"]] for v in viewers
            )

        await wait_until(everyone_got_it, 5, "a viewer on every worker got the command")
        assert [await metric(w.url, "roomtimer_socket_connected_clients") for w in workers] == [
            1
        ] * len(workers)

        await redis.stop()
        # A Redis outage leaves the workers healthy (commands still apply); /health says it.
        assert [await health_check(w) for w in workers] == [0] * len(workers)
        async with admin(workers[0].url) as direct:
            full = await direct.call("GET", "/health")
            assert (full.status, full.body["checks"]["redis"]) == (503, "down")
        await redis.start()

    grace = float(re.sub(r"\D", "", SERVICES[APPS[0]]["stop_grace_period"]))
    codes = await asyncio.gather(*(w.stop(timeout=grace) for w in workers))
    assert codes == [0] * len(workers)


def assert_json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line a flat JSON object with level, time and message; returns them."""
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert records
    for record in records:
        assert {"level", "time", "message"} <= set(record), record
        assert not any(isinstance(v, dict | list) for v in record.values()), record
    return records
