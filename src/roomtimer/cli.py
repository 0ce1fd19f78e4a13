"""Command line: `roomtimer serve | migrate | token`."""

import argparse
import asyncio
import contextlib
import errno
import os
import sys
import time

from aiohttp import web
from loguru import logger
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from roomtimer import keys
from roomtimer.app import create_app
from roomtimer.build import package_version
from roomtimer.config import ConfigError, Settings, load_settings, sqlite_path
from roomtimer.gc_tuning import tune_for_serving
from roomtimer.infra import db, tokens
from roomtimer.logs import configure_logging
from roomtimer.realtime import http_guard


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roomtimer", description=__doc__)
    parser.add_argument("--version", action="version", version=f"roomtimer {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply migrations and serve HTTP + Socket.IO")
    serve.add_argument("--host", help="address to listen on (env HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (env PORT, default 3000)")
    commands.add_parser("migrate", help="apply database migrations")
    token = commands.add_parser("token", help="print an admin JWT")
    token.add_argument("--sub", required=True, help="owner id carried by the token")
    token.add_argument(
        "--ttl", type=int, default=3600, help="seconds until it expires (a show day: 86400)"
    )
    return parser


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop where it is installed (not on Windows), else asyncio's own loop; and its name."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def describe_database(settings: Settings) -> str:
    """Where the data lives, for the start-up line (never the password)."""
    db_file = sqlite_path(settings.database_url)
    if db_file is not None:
        return f"SQLite at {db_file.resolve()}"
    url = make_url(settings.database_url)
    return f"PostgreSQL at {url.host}:{url.port or 5432}/{url.database}"


def database_failure(exc: BaseException) -> str:
    """One line saying why the database could not be used."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {db.CONNECT_TIMEOUT_S:g} s"
    reason = str(getattr(exc, "orig", None) or exc).strip()
    return reason.splitlines()[0] if reason else type(exc).__name__


def warn_if_generated_secret(settings: Settings) -> None:
    """Says at start-up that the development secret is in use."""
    if settings.jwt_secret_source == "generated":
        logger.warning(
            "JWT_SECRET is not set: using a generated development secret kept beside the "
            "database; `roomtimer token` uses the same one. Set JWT_SECRET in production."
        )


def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    warn_if_generated_secret(settings)
    loop, loop_name = new_event_loop()
    asyncio.set_event_loop(loop)
    if not loop.run_until_complete(_migrate(settings)):
        return 1
    host = host or settings.host
    port = settings.port if port is None else port
    logger.info(
        "roomtimer {} serving on http://{}:{} (pid {}, {} event loop, database: {})",
        package_version(), host, port, os.getpid(), loop_name, describe_database(settings),
    )  # fmt: skip
    app = create_app(settings)
    tune_for_serving()
    runner = http_guard.runner(
        app,
        settings,
        app[keys.metrics],
        handle_signals=True,
        shutdown_timeout=settings.shutdown_timeout_s,
    )
    try:
        _run(loop, runner, host, port)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        # The most common first-run failure (another server on the port): one line.
        logger.error("cannot listen on {}:{}: {}", host, port, exc.strerror)
        return 1
    logger.info("roomtimer stopped")
    return 0


def _run(loop: asyncio.AbstractEventLoop, runner: web.AppRunner, host: str, port: int) -> None:
    """Serves until SIGTERM or SIGINT, then stops gracefully: what `web.run_app` does."""

    async def serve() -> None:
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    main = loop.create_task(serve())
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass  # the signal handler's way of stopping the loop
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            rest = asyncio.all_tasks(loop)
            for task in rest:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


async def _migrate(settings: Settings) -> bool:
    """Applies migrations; an unreachable database is one line on stderr, not a traceback."""
    try:
        await db.migrate(settings.database_url)
    except (OSError, SQLAlchemyError) as exc:
        logger.error("cannot migrate the database: {}", database_failure(exc))
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"roomtimer: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if args.command == "migrate":
        if not asyncio.run(_migrate(settings)):
            return 1
        logger.info("database is at the latest migration")
        return 0
    if args.ttl <= 0:
        print("roomtimer: --ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    if not args.sub or len(args.sub) > 255:  # the server refuses such tokens
        print("roomtimer: --sub must be 1 to 255 characters", file=sys.stderr)
        return 2
    print(tokens.issue(settings.jwt_secret, args.sub, args.ttl, int(time.time())))
    return 0
