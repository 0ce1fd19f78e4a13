"""The built wheel, installed into a clean virtualenv outside the repository, serves."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import needs
from tests.support.app import Api
from tests.support.server import SERVER_ENV_VARS, ServerProcess
from tests.support.services import REPO_ROOT

DEV_ONLY = ("pytest", "mypy", "ruff", "coredis")


def run(
    argv: list[str], cwd: Path, extra: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """argv with the developer's settings and this checkout kept out of its environment."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS} | (extra or {})
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def pip(venv: Path, *args: str) -> list[str]:
    """This interpreter's pip, acting on the virtualenv at venv."""
    python = str(venv / "bin" / "python")
    return [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", *args]


def build_context(into: Path) -> Path:
    """What the Dockerfile's build stage copies in (its COPY lines), and nothing else."""
    into.mkdir(parents=True)
    text = (REPO_ROOT / "Dockerfile").read_text()
    build_stage = text.split("\nFROM ", 2)[1]
    for line in build_stage.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not words[1].startswith("--"):
            for source in words[1:-1]:
                if (REPO_ROOT / source).is_dir():
                    shutil.copytree(REPO_ROOT / source, into / source)
                else:
                    shutil.copy(REPO_ROOT / source, into / source)
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtualenv with only the built wheel (and its dependencies) installed.

    The wheel is built from what the Dockerfile copies, so the image builds from it too.
    """
    root = tmp_path_factory.mktemp("packaging")
    source = build_context(root / "context")
    built = run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root), str(source)],
        cwd=root,
    )
    if built.returncode != 0:
        needs("a package index", f"could not build the wheel (hatchling): {built.stderr[-500:]}")
    [wheel] = root.glob("roomtimer-*.whl")
    with zipfile.ZipFile(wheel) as archive:  # MIT asks for the notice in every copy
        licenses = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert licenses and b"MIT License" in archive.read(licenses[0])
    # No pip inside (this interpreter's pip installs into it) and no byte-compiling: the
    # same packages in half the time.
    venv = root / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    assert made.returncode == 0, made.stderr
    added = run(pip(venv, "install", "-q", "--no-compile", str(wheel)), root)
    if added.returncode != 0:
        needs("a package index", f"could not install the wheel's dependencies: {added.stderr}")
    return venv


def test_the_wheel_installs_runtime_dependencies_only(installed: Path, tmp_path: Path) -> None:
    python = str(installed / "bin" / "python")
    listed = run(pip(installed, "list", "--format=freeze"), cwd=tmp_path)
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert "roomtimer" in names and "uvloop" in names
    assert not names & set(DEV_ONLY), names & set(DEV_ONLY)
    where = run([python, "-c", "import roomtimer; print(roomtimer.__file__)"], cwd=tmp_path)
    assert where.stdout.startswith(str(installed)), where.stdout  # not this checkout
    shown = run([str(installed / "bin" / "roomtimer"), "--version"], cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("roomtimer "), shown


async def test_the_installed_wheel_migrates_and_serves_from_another_directory(
    installed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "show-laptop"
    elsewhere.mkdir()
    roomtimer = str(installed / "bin" / "roomtimer")
    env = {"ROOMTIMER_DATA_DIR": str(elsewhere / "data")}
    migrated = run([roomtimer, "migrate"], cwd=elsewhere, extra=env)
    assert migrated.returncode == 0, migrated.stderr
    assert (elsewhere / "data" / "roomtimer.db").is_file()
    async with ServerProcess(env, workdir=elsewhere, command=[roomtimer, "serve"]) as server:
        async with Api(server.url, None) as api:
            health = await api.call("GET", "/health")
        assert (health.status, health.body["status"]) == (200, "ok")
        assert str(elsewhere / "data" / "roomtimer.db") in server.stderr()
