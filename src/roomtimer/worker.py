"""The gunicorn entry point: `gunicorn -c python:roomtimer.gunicorn_conf roomtimer.worker:app`.

aiohttp's gunicorn worker awaits this factory in the worker process. It prepares what
`roomtimer serve` prepares (settings, logging, migrations) and returns the application;
a bad setting or an unreachable database stops the worker from booting (one log line,
no traceback), and gunicorn then exits instead of restarting it in a loop.
"""

from aiohttp import web
from loguru import logger
from sqlalchemy.exc import SQLAlchemyError

from roomtimer import keys
from roomtimer.app import create_app
from roomtimer.cli import database_failure, warn_if_generated_secret
from roomtimer.config import load_settings
from roomtimer.gc_tuning import tune_for_serving
from roomtimer.infra import db
from roomtimer.logs import configure_logging
from roomtimer.realtime import http_guard

# gunicorn's arbiter halts (instead of respawning) when a worker exits with this code.
WORKER_BOOT_ERROR = 3


async def app() -> web.AppRunner:
    """The roomtimer application, migrations applied, in the runner aiohttp's worker starts.

    A runner, not the bare application, so it serves with the same HTTP timeouts and
    per-address cap as `roomtimer serve` (`realtime.http_guard`).
    """
    settings = load_settings()
    configure_logging(settings)
    warn_if_generated_secret(settings)
    try:
        await db.migrate(settings.database_url)
    except (OSError, SQLAlchemyError) as exc:
        logger.error("cannot migrate the database: {}", database_failure(exc))
        raise SystemExit(WORKER_BOOT_ERROR) from None
    application = create_app(settings)
    tune_for_serving()
    metrics = application[keys.metrics]
    return http_guard.runner(
        application, settings, metrics, shutdown_timeout=settings.shutdown_timeout_s
    )
