"""gunicorn's own lines (arbiter and worker) as flat JSON in production, like roomtimer's."""

import logging
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger

from roomtimer.logs import json_line, production_environment, redact


class JsonFormatter(logging.Formatter):
    """A stdlib record as roomtimer's flat JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """level, time, message, logger, pid (and the traceback, masked, if any)."""
        time = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        exception = self.formatException(record.exc_info) if record.exc_info else None
        fields = {"logger": record.name, "pid": record.process}
        return json_line(record.levelname, time, redact(record.getMessage()), fields, exception)


class ProductionLogger(Logger):
    """gunicorn's logger; with APP_ENV=production its handlers write JSON lines."""

    def setup(self, cfg: Any) -> None:
        """gunicorn's setup, then JSON formatting on its handlers in production."""
        super().setup(cfg)
        if not production_environment():
            return
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
