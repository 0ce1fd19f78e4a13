"""Settings: one validated object read from the environment."""

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(Exception):
    """The environment cannot make a working server (a one-line reason)."""


PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev-secret-change-me"}
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
# Levels of the Node server's loggers (winston, pino), so existing .env files keep working.
NODE_LOG_LEVELS = {
    "WARN": "WARNING",
    "FATAL": "CRITICAL",
    "HTTP": "INFO",
    "VERBOSE": "DEBUG",
    "SILLY": "TRACE",
}


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    host: str = "127.0.0.1"
    port: int = 3000
    # Not in the repr: either URL may carry a password.
    database_url: str = field(default="sqlite+aiosqlite:///data/roomtimer.db", repr=False)
    redis_url: str | None = field(default=None, repr=False)
    database_timeout_s: float = 2.0
    jwt_secret: str = field(default="", repr=False)
    jwt_secret_source: str = "env"
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    rate_limit_window_ms: int = 60_000
    rate_limit_max_requests: int = 100
    share_token_max_misses: int = 30
    trusted_proxies: tuple[str, ...] = ()
    environment: str = "development"
    shutdown_timeout_s: float = 10.0
    fast_path: bool = True
    socket_max_rooms: int = 20
    socket_max_per_address: int = 10000
    socket_flood_penalty_s: int = 60
    webhook_allow_private: bool = False
    http_header_timeout_s: float = 10.0
    http_body_timeout_s: float = 10.0
    http_keepalive_timeout_s: float = 65.0
    http_max_pending_per_address: int = 1000

    @property
    def production(self) -> bool:
        """True when running as a production service."""
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded SQLite default."""
        return self.database_url.startswith("sqlite")


def database_url(raw: str | None, data_dir: Path) -> str:
    """Turns the contract's DATABASE_URL forms into SQLAlchemy async URLs."""
    if not raw or not raw.strip():
        return f"sqlite+aiosqlite:///{data_dir / 'roomtimer.db'}"
    scheme, sep, rest = raw.strip().partition("://")
    if not sep:  # the value is not echoed: it may hold a password
        raise ConfigError(
            "DATABASE_URL must be a URL: postgresql://…, postgres://… or sqlite:///path"
        )
    drivers = {
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
    }
    if scheme.lower() not in drivers:
        raise ConfigError("DATABASE_URL must start with postgresql://, postgres:// or sqlite:///")
    text = f"{drivers[scheme.lower()]}://{rest}"
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError(
            "DATABASE_URL is not a valid URL (check its host, port and escaping)"
        ) from None
    if url.drivername.startswith("sqlite"):
        if url.database in (None, "", ":memory:"):
            raise ConfigError("DATABASE_URL must name an SQLite file (sqlite:///path), not memory")
        return text
    return _asyncpg_url(url) if "sslmode" in url.query else text


def _asyncpg_url(url: URL) -> str:
    """libpq's `sslmode` (common in Node-era URLs) is asyncpg's `ssl`."""
    mode = url.query["sslmode"]
    url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
    return url.render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, maximum: float = 3600) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= maximum:  # NaN fails too
        raise ConfigError(f"{name} must be above 0 and at most {maximum:g} seconds, got {raw}")
    return value


def _list(raw: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (raw or "").split(",") if item.strip())


def _log_level(raw: str | None) -> str:
    level = (raw or "INFO").strip().upper()
    level = NODE_LOG_LEVELS.get(level, level)
    if level not in LOG_LEVELS:
        raise ConfigError(
            f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (or warn), got {raw!r}"
        )
    return level


def _proxies(raw: str | None) -> tuple[str, ...]:
    entries = _list(raw)
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"TRUSTED_PROXIES must list IP addresses or CIDR blocks, got {entry!r}"
            ) from None
    return entries


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def _dev_secret(db_url: str, data_dir: Path) -> str:
    """A random secret kept beside the SQLite file, so `serve` and `token` agree."""
    db_file = sqlite_path(db_url)
    folder = db_file.parent if db_file else data_dir
    path = folder / ".jwt-secret"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked: a process starting at the same
        # moment (`serve` and `token`, several workers) reads either nothing or all of it.
        draft = folder / f".jwt-secret.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process won the race: use its secret
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if not secret:
        raise ConfigError(f"{path} is empty: delete it to generate a new development secret")
    return secret


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Reads and checks the environment; raises ConfigError with a one-line reason."""
    env = os.environ if env is None else env
    environment = (env.get("APP_ENV") or env.get("NODE_ENV") or "development").strip().lower()
    data_dir = Path(env.get("ROOMTIMER_DATA_DIR") or "data")
    db_url = database_url(env.get("DATABASE_URL"), data_dir)
    secret = env.get("JWT_SECRET", "")
    source = "env"
    if environment != "development":
        # Staging and test servers face real clients too: only a laptop gets a generated one.
        if secret.strip().lower() in PLACEHOLDER_SECRETS:
            raise ConfigError(
                f"JWT_SECRET is required when APP_ENV is {environment!r} (and must not be a"
                " placeholder); only development generates one"
            )
    elif not secret:
        secret, source = _dev_secret(db_url, data_dir), "generated"
    return Settings(
        host=env.get("HOST") or "127.0.0.1",
        port=_int(env, "PORT", 3000, minimum=0, maximum=65535),
        database_url=db_url,
        redis_url=env.get("REDIS_URL") or None,
        database_timeout_s=_seconds(env, "DATABASE_TIMEOUT", 2, maximum=60),
        jwt_secret=secret,
        jwt_secret_source=source,
        cors_origins=_list(env.get("CORS_ORIGIN")),
        log_level=_log_level(env.get("LOG_LEVEL")),
        rate_limit_window_ms=_int(env, "RATE_LIMIT_WINDOW_MS", 60_000),
        rate_limit_max_requests=_int(env, "RATE_LIMIT_MAX_REQUESTS", 100),
        share_token_max_misses=_int(env, "SHARE_TOKEN_MAX_MISSES", 30),
        trusted_proxies=_proxies(env.get("TRUSTED_PROXIES")),
        environment=environment,
        fast_path=_switch(env, "ROOMTIMER_FAST_PATH", True),
        socket_max_rooms=_int(env, "SOCKET_MAX_ROOMS", 20),
        socket_max_per_address=_int(env, "SOCKET_MAX_CONNECTIONS_PER_ADDRESS", 10000),
        socket_flood_penalty_s=_int(env, "SOCKET_FLOOD_PENALTY_S", 60, minimum=0, maximum=3600),
        webhook_allow_private=_switch(env, "WEBHOOK_ALLOW_PRIVATE", False),
        http_header_timeout_s=_seconds(env, "HTTP_HEADER_TIMEOUT", 10),
        http_body_timeout_s=_seconds(env, "HTTP_BODY_TIMEOUT", 10),
        http_keepalive_timeout_s=_seconds(env, "HTTP_KEEPALIVE_TIMEOUT", 65),
        http_max_pending_per_address=_int(env, "HTTP_MAX_PENDING_PER_ADDRESS", 1000),
    )
