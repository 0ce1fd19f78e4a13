"""Logging: loguru to stderr, JSON lines in production; stdlib logging routed through it."""

import logging
import sys

from loguru import logger

from roomtimer.config import Settings


class _Intercept(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(settings: Settings) -> None:
    """Sends every log line to stderr at LOG_LEVEL; JSON when APP_ENV=production."""
    logger.remove()
    if settings.production:
        logger.add(sys.stderr, level=settings.log_level, serialize=True, backtrace=False)
    else:
        logger.add(
            sys.stderr,
            level=settings.log_level,
            format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}",
            backtrace=False,
        )
    logging.basicConfig(handlers=[_Intercept()], level=0, force=True)
    for noisy in ("aiohttp.access", "engineio", "socketio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
