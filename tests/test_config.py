"""Settings from the environment: the contract's variables, defaults and refusals."""

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from roomtimer.config import ConfigError, Settings, load_settings

SECRET = "a-real-secret-of-enough-length-0123456789"


def load(tmp_path: Path, **env: str) -> Settings:
    """Settings for `env` alone, with data kept under tmp_path."""
    return load_settings({"ROOMTIMER_DATA_DIR": str(tmp_path / "data"), **env})


def refused(tmp_path: Path, **env: str) -> str:
    """The one-line reason load_settings gives for refusing `env`."""
    with pytest.raises(ConfigError) as error:
        load(tmp_path, **env)
    reason = str(error.value)
    assert reason and "\n" not in reason
    return reason


def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, JWT_SECRET=SECRET)
    assert (settings.host, settings.port) == ("127.0.0.1", 3000)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'roomtimer.db'}"
    assert settings.redis_url is None
    assert (settings.rate_limit_window_ms, settings.rate_limit_max_requests) == (60_000, 100)
    assert settings.cors_origins == settings.trusted_proxies == ()
    assert (settings.log_level, settings.environment, settings.production) == (
        "INFO",
        "development",
        False,
    )
    assert SECRET not in repr(settings)


PG = "postgresql+asyncpg"
LITE = "sqlite+aiosqlite"


@pytest.mark.parametrize(
    ("raw", "driver", "host", "port", "database"),
    [
        ("postgresql://rt:pw@db.internal:5433/timers", PG, "db.internal", 5433, "timers"),
        ("postgres://rt:pw@db.internal/timers", PG, "db.internal", None, "timers"),
        ("sqlite:///var/rt.db", LITE, None, None, "var/rt.db"),
        ("sqlite:////srv/rt/rt.db", LITE, None, None, "/srv/rt/rt.db"),
    ],
)
def test_database_url_forms(
    tmp_path: Path, raw: str, driver: str, host: str | None, port: int | None, database: str
) -> None:
    url = make_url(load(tmp_path, JWT_SECRET=SECRET, DATABASE_URL=raw).database_url)
    assert (url.drivername, url.host, url.port, url.database) == (driver, host, port, database)


def test_database_url_keeps_credentials_and_translates_sslmode(tmp_path: Path) -> None:
    raw = "postgres://rt:p%40ss@db/timers?sslmode=require"
    url = make_url(load(tmp_path, JWT_SECRET=SECRET, DATABASE_URL=raw).database_url)
    assert (url.username, url.password) == ("rt", "p@ss")
    assert dict(url.query) == {"ssl": "require"}  # asyncpg's name for libpq's sslmode


@pytest.mark.parametrize(
    "raw",
    [
        "mysql://rt:hunter2@db/timers",
        "rt:hunter2@db/timers",
        "postgresql://rt:hunter2@db:port/timers",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
def test_bad_database_url_is_refused_without_echoing_it(tmp_path: Path, raw: str) -> None:
    reason = refused(tmp_path, JWT_SECRET=SECRET, DATABASE_URL=raw)
    assert reason.startswith("DATABASE_URL")
    assert "hunter2" not in reason


def test_rate_limit_settings(tmp_path: Path) -> None:
    settings = load(
        tmp_path, JWT_SECRET=SECRET, RATE_LIMIT_WINDOW_MS=" 1500 ", RATE_LIMIT_MAX_REQUESTS="7"
    )
    assert (settings.rate_limit_window_ms, settings.rate_limit_max_requests) == (1500, 7)
    blank = load(tmp_path, JWT_SECRET=SECRET, RATE_LIMIT_WINDOW_MS="", RATE_LIMIT_MAX_REQUESTS="")
    assert (blank.rate_limit_window_ms, blank.rate_limit_max_requests) == (60_000, 100)
    assert blank.share_token_max_misses == 30
    assert load(tmp_path, JWT_SECRET=SECRET, SHARE_TOKEN_MAX_MISSES="5").share_token_max_misses == 5


@pytest.mark.parametrize(
    "name", ["RATE_LIMIT_WINDOW_MS", "RATE_LIMIT_MAX_REQUESTS", "SHARE_TOKEN_MAX_MISSES"]
)
@pytest.mark.parametrize("value", ["abc", "1.5", "60s", "0", "-5"])
def test_bad_rate_limit_is_refused(tmp_path: Path, name: str, value: str) -> None:
    reason = refused(tmp_path, JWT_SECRET=SECRET, **{name: value})
    assert reason.startswith(name) and value in reason


def test_http_timeouts_and_pending_cap(tmp_path: Path) -> None:
    defaults = load(tmp_path, JWT_SECRET=SECRET)
    assert (
        defaults.http_header_timeout_s,
        defaults.http_body_timeout_s,
        defaults.http_keepalive_timeout_s,
        defaults.http_max_pending_per_address,
    ) == (10, 10, 65, 1000)
    timeouts = {
        "HTTP_HEADER_TIMEOUT": "0.5",
        "HTTP_BODY_TIMEOUT": "3",
        "HTTP_KEEPALIVE_TIMEOUT": "61",
    }
    settings = load(tmp_path, JWT_SECRET=SECRET, HTTP_MAX_PENDING_PER_ADDRESS="9", **timeouts)
    assert (settings.http_header_timeout_s, settings.http_body_timeout_s) == (0.5, 3)
    assert (settings.http_keepalive_timeout_s, settings.http_max_pending_per_address) == (61, 9)


def test_database_timeout(tmp_path: Path) -> None:
    assert load(tmp_path, JWT_SECRET=SECRET).database_timeout_s == 2
    assert load(tmp_path, JWT_SECRET=SECRET, DATABASE_TIMEOUT="0.5").database_timeout_s == 0.5


@pytest.mark.parametrize(
    "name",
    ["HTTP_HEADER_TIMEOUT", "HTTP_BODY_TIMEOUT", "HTTP_KEEPALIVE_TIMEOUT", "DATABASE_TIMEOUT"],
)
@pytest.mark.parametrize("value", ["abc", "10s", "0", "-1", "nan", "99999"])
def test_bad_timeout_is_refused(tmp_path: Path, name: str, value: str) -> None:
    reason = refused(tmp_path, JWT_SECRET=SECRET, **{name: value})
    assert reason.startswith(name) and value in reason


def test_cors_origin_is_a_comma_separated_list(tmp_path: Path) -> None:
    raw = " https://admin.example , https://screens.example,,"
    settings = load(tmp_path, JWT_SECRET=SECRET, CORS_ORIGIN=raw)
    assert settings.cors_origins == ("https://admin.example", "https://screens.example")
    assert load(tmp_path, JWT_SECRET=SECRET, CORS_ORIGIN="*").cors_origins == ("*",)


def test_trusted_proxies_list(tmp_path: Path) -> None:
    raw = "10.0.0.1, 172.16.0.0/12,::1"
    settings = load(tmp_path, JWT_SECRET=SECRET, TRUSTED_PROXIES=raw)
    assert settings.trusted_proxies == ("10.0.0.1", "172.16.0.0/12", "::1")


def test_bad_trusted_proxy_is_refused(tmp_path: Path) -> None:
    reason = refused(tmp_path, JWT_SECRET=SECRET, TRUSTED_PROXIES="10.0.0.1,proxy.local")
    assert reason.startswith("TRUSTED_PROXIES") and "proxy.local" in reason


def test_host_and_port(tmp_path: Path) -> None:
    settings = load(tmp_path, JWT_SECRET=SECRET, HOST="0.0.0.0", PORT="8080")
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert load(tmp_path, JWT_SECRET=SECRET, PORT="0").port == 0


@pytest.mark.parametrize("value", ["http", "70000", "-1"])
def test_bad_port_is_refused(tmp_path: Path, value: str) -> None:
    assert refused(tmp_path, JWT_SECRET=SECRET, PORT=value).startswith("PORT")


@pytest.mark.parametrize(
    ("value", "level"),
    [("debug", "DEBUG"), ("INFO", "INFO"), ("warn", "WARNING"), ("error", "ERROR")],
)
def test_log_level_accepts_python_and_node_names(tmp_path: Path, value: str, level: str) -> None:
    assert load(tmp_path, JWT_SECRET=SECRET, LOG_LEVEL=value).log_level == level


def test_bad_log_level_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, JWT_SECRET=SECRET, LOG_LEVEL="loud").startswith("LOG_LEVEL")


@pytest.mark.parametrize("variable", ["APP_ENV", "NODE_ENV"])
@pytest.mark.parametrize("secret", [None, "", "changeme", "secret"])
def test_production_refuses_a_missing_or_placeholder_secret(
    tmp_path: Path, variable: str, secret: str | None
) -> None:
    env = {variable: "production"} | ({} if secret is None else {"JWT_SECRET": secret})
    assert "JWT_SECRET" in refused(tmp_path, **env)
    assert not (tmp_path / "data").exists()  # no development secret was made either


@pytest.mark.parametrize("environment", ["staging", "test", "preview"])
@pytest.mark.parametrize("secret", [None, "changeme", "secret"])
def test_every_environment_but_development_refuses_a_missing_or_placeholder_secret(
    tmp_path: Path, environment: str, secret: str | None
) -> None:
    env = {"APP_ENV": environment} | ({} if secret is None else {"JWT_SECRET": secret})
    assert "JWT_SECRET" in refused(tmp_path, **env)
    assert not (tmp_path / "data").exists()


def test_fast_path_setting_reads_on_and_off_and_refuses_anything_else(tmp_path: Path) -> None:
    base = {"JWT_SECRET": "a-real-secret-for-the-test", "ROOMTIMER_DATA_DIR": str(tmp_path)}
    assert load_settings(base).fast_path is True
    assert load_settings(base | {"ROOMTIMER_FAST_PATH": "off"}).fast_path is False
    assert load_settings(base | {"ROOMTIMER_FAST_PATH": "ON"}).fast_path is True
    with pytest.raises(ConfigError, match="ROOMTIMER_FAST_PATH must be on or off"):
        load_settings(base | {"ROOMTIMER_FAST_PATH": "fast"})


def test_webhook_allow_private_is_off_unless_switched_on(tmp_path: Path) -> None:
    base = {"JWT_SECRET": "a-real-secret-for-the-test", "ROOMTIMER_DATA_DIR": str(tmp_path)}
    assert load_settings(base).webhook_allow_private is False
    assert load_settings(base | {"WEBHOOK_ALLOW_PRIVATE": "true"}).webhook_allow_private is True
    assert load_settings(base | {"WEBHOOK_ALLOW_PRIVATE": "false"}).webhook_allow_private is False
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_PRIVATE"):
        load_settings(base | {"WEBHOOK_ALLOW_PRIVATE": "maybe"})


def test_production_with_a_secret(tmp_path: Path) -> None:
    settings = load(tmp_path, NODE_ENV="Production", JWT_SECRET=SECRET)
    assert (settings.production, settings.jwt_secret, settings.jwt_secret_source) == (
        True,
        SECRET,
        "env",
    )


def test_development_secret_is_generated_once_beside_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'rt.db'}"
    first = load(tmp_path, DATABASE_URL=url)
    kept = tmp_path / "db" / ".jwt-secret"
    assert first.jwt_secret_source == "generated"
    assert len(first.jwt_secret) >= 32
    assert kept.read_text().strip() == first.jwt_secret
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert load(tmp_path, DATABASE_URL=url).jwt_secret == first.jwt_secret
    assert sorted(p.name for p in kept.parent.iterdir()) == [".jwt-secret"]


def test_development_secret_is_the_same_for_processes_starting_together(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rt.db'}"
    with ThreadPoolExecutor(max_workers=16) as pool:
        secrets = set(pool.map(lambda _: load(tmp_path, DATABASE_URL=url).jwt_secret, range(64)))
    assert len(secrets) == 1


def test_an_empty_development_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".jwt-secret").write_text("\n")
    reason = refused(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'rt.db'}")
    assert ".jwt-secret" in reason


def test_a_given_secret_writes_no_file(tmp_path: Path) -> None:
    settings = load(tmp_path, JWT_SECRET=SECRET, DATABASE_URL=f"sqlite:///{tmp_path / 'rt.db'}")
    assert (settings.jwt_secret, settings.jwt_secret_source) == (SECRET, "env")
    assert not (tmp_path / ".jwt-secret").exists()
